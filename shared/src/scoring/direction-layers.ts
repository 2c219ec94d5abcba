import { ConfigError } from '../errors.ts';

/**
 * Which decoder layers' residual-stream states feed the compliance-direction scorer
 * (`--direction-layers`): `middle` (the default: layer ⌊L/2⌋, where refusal-direction work finds
 * the direction most separable), `none`, or a comma list of 0-based layer indices.
 */
export type DirectionLayerChoice = 'middle' | readonly number[];

export function parseDirectionLayers(text: string): DirectionLayerChoice {
  const t = text.trim();
  if (t === 'middle') return 'middle';
  if (t === 'none' || t === '') return [];
  const parts = t.split(',').map((p) => p.trim());
  const layers = parts.map(Number);
  if (parts.some((p) => !/^\d+$/.test(p))) {
    throw new ConfigError(`--direction-layers: expected "middle", "none" or 0-based layer indices like "8,16", got ${JSON.stringify(text)}`);
  }
  return [...new Set(layers)].sort((a, b) => a - b);
}

/** The layer indices for a model with `numLayers` decoder layers; a layer past the last fails here. */
export function resolveDirectionLayers(choice: DirectionLayerChoice, numLayers: number): number[] {
  if (choice === 'middle') return [Math.floor(numLayers / 2)];
  const outside = choice.filter((l) => l >= numLayers);
  if (outside.length > 0) {
    throw new ConfigError(`--direction-layers: layer ${outside.join(', ')} does not exist (the model has ${numLayers} layers, 0-${numLayers - 1})`);
  }
  return [...choice];
}

/** The option text of a choice (what parseDirectionLayers reads back). */
export function formatDirectionLayers(choice: DirectionLayerChoice): string {
  if (choice === 'middle') return 'middle';
  return choice.length === 0 ? 'none' : choice.join(',');
}
