// Worker-thread entry of the pooled feature model: worker threads do not inherit the parent's
// in-process tsx registration (bin/safesift.mjs), so register it here before loading the TS.
import { register } from 'tsx/esm/api';

register();
await import('./feature-worker.ts');
