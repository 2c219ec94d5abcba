import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

export interface S3ClientSettings {
  /** S3-compatible endpoint URL; default `$AWS_ENDPOINT_URL`, else AWS itself. */
  endpoint?: string;
  /** Default `$AWS_REGION`, else us-east-1. */
  region?: string;
  /** Explicit credentials (tests); default the SDK's default credential chain. */
  credentials?: S3ClientConfig['credentials'];
}

/**
 * An S3 client for safesift. Credentials come from the SDK's default chain (environment,
 * shared config, SSO, instance roles) and are never read or logged here. Path-style addressing
 * works with every S3-compatible server. Checksums only WHEN_REQUIRED: with the SDK's default,
 * some S3-compatible servers store a streamed upload with its chunk framing inside the object.
 */
export function createS3Client(settings: S3ClientSettings = {}): S3Client {
  const endpoint = settings.endpoint ?? nonEmpty(process.env['AWS_ENDPOINT_URL']);
  const region = settings.region ?? nonEmpty(process.env['AWS_REGION']) ?? 'us-east-1';
  return new S3Client({
    region,
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(settings.credentials === undefined ? {} : { credentials: settings.credentials }),
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
