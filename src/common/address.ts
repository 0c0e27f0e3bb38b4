import { UsageError } from "./errors.ts";

export interface HostPort {
  host: string;
  port: number;
}

/** Parses "host:port" (IPv6 in brackets) as used by every listen and connect flag. */
export function parseHostPort(value: string, what: string): HostPort {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/.exec(value.trim());
  const port = m === null ? Number.NaN : Number(m[2]);
  if (m === null || m[1] === undefined || !Number.isInteger(port) || port > 65535) {
    throw new UsageError(`${what}: expected HOST:PORT (e.g. 127.0.0.1:15000), got "${value}"`);
  }
  return { host: m[1].replace(/^\[|\]$/g, ""), port };
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
