import { ConfigError } from '../errors.ts';

/** A container image reference split as kustomize's `images` transformer sees it. */
export interface ImageRef {
  /** Registry and repository, e.g. `registry.example.com:5000/team/safesift`. */
  name: string;
  tag?: string;
  digest?: string;
}

/** A kustomization `images` entry. */
export interface ImageOverride {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}

export function parseImageRef(image: string): ImageRef {
  if (image.trim() === '' || /\s/.test(image)) throw new ConfigError(`image '${image}': expected registry/name[:tag][@digest]`);
  const [rest, digest] = image.split('@', 2) as [string, string | undefined];
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  // A colon before the last slash belongs to a registry port, not a tag.
  const hasTag = colon > slash;
  const name = hasTag ? rest.slice(0, colon) : rest;
  const tag = hasTag ? rest.slice(colon + 1) : undefined;
  if (name === '' || tag === '' || digest === '') throw new ConfigError(`image '${image}': expected registry/name[:tag][@digest]`);
  return { name, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) };
}

export function formatImageRef(ref: ImageRef): string {
  return `${ref.name}${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`;
}

/** The image after an override whose name matches it, else unchanged. A new digest drops the tag. */
export function overrideImage(image: string, override: ImageOverride): string {
  const ref = parseImageRef(image);
  if (ref.name !== override.name) return image;
  const name = override.newName ?? ref.name;
  if (override.digest !== undefined) return formatImageRef({ name, digest: override.digest });
  const tag = override.newTag ?? ref.tag;
  return formatImageRef({ name, ...(tag === undefined ? {} : { tag }), ...(override.newTag === undefined && ref.digest !== undefined ? { digest: ref.digest } : {}) });
}
