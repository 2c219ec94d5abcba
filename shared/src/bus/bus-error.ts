import { SafesiftError } from '../errors.ts';

/** The message bus is unreachable or refused us; messages name the server, never a secret. */
export class BusError extends SafesiftError {}
