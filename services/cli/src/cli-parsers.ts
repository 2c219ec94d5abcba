import { ConfigError } from '@safesift/core/errors.ts';

/** Commander parser for a non-negative integer flag, with an error naming the flag. */
export function integer(flag: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new ConfigError(`${flag}: expected a non-negative integer, got '${value}'`);
    return Number(value);
  };
}
