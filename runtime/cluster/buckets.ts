// Bucket math (docs/keyspace.md): a base belongs to the bucket named by the first two hex
// digits of its UUID. Pure: no I/O.

export const BUCKET_COUNT = 256;

/** All bucket names, "00".."ff", in order; index i is bucket i. */
export const BUCKETS: readonly string[] = Array.from({ length: BUCKET_COUNT }, (_, i) =>
  i.toString(16).padStart(2, '0'),
);

const DASHED = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const PLAIN = /^[0-9a-fA-F]{32}$/;

/** A base UUID that is neither the 36-char dashed nor the 32-char plain hex form. */
export class InvalidUuidError extends Error {
  override name = 'InvalidUuidError';
  constructor(readonly input: string) {
    super(
      `not a base UUID: ${JSON.stringify(input.length > 80 ? `${input.slice(0, 80)}...` : input)} ` +
        '(expected 32 hex digits, optionally dashed as 8-4-4-4-12)',
    );
  }
}

export function isBaseUuid(input: string): boolean {
  return DASHED.test(input) || PLAIN.test(input);
}

/** The canonical form used for storage and comparison: 32 lowercase hex digits, no dashes. */
export function normalizeUuid(input: string): string {
  if (!isBaseUuid(input)) throw new InvalidUuidError(input);
  return input.replaceAll('-', '').toLowerCase();
}

/** The dashed lowercase form (8-4-4-4-12), as SeaTable prints base UUIDs. */
export function dashedUuid(input: string): string {
  const n = normalizeUuid(input);
  return `${n.slice(0, 8)}-${n.slice(8, 12)}-${n.slice(12, 16)}-${n.slice(16, 20)}-${n.slice(20)}`;
}

/** `bucketOf("5E5C6AD2-...")` is `"5e"`. Throws InvalidUuidError for anything but a base UUID. */
export function bucketOf(uuid: string): string {
  return normalizeUuid(uuid).slice(0, 2);
}

/** Bucket name → index 0..255. */
export function bucketIndex(bucket: string): number {
  if (!/^[0-9a-f]{2}$/.test(bucket)) throw new Error(`not a bucket name: ${JSON.stringify(bucket)}`);
  return parseInt(bucket, 16);
}
