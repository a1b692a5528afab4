// host:port addresses, as flags and API requests give them.
const MAX_PORT = 65_535;
const ADDRESS = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/;

/** host:port (IPv6 in brackets) split for listen(): brackets dropped, any port number. */
export function splitHostPort(value: string): { host: string; port: number } | undefined {
  const match = ADDRESS.exec(value);
  const [, host, port] = match ?? [];
  if (host === undefined || port === undefined) return undefined;
  return { host: host.replace(/^\[(.*)\]$/, '$1'), port: Number(port) };
}

/** Parses host:port; port 0 is refused because addresses are advertised to peers and clients. */
export function parseAddress(value: string): { host: string; port: number } | string {
  const parsed = splitHostPort(value);
  if (parsed === undefined) return `"${value}" is not host:port`;
  if (parsed.port < 1 || parsed.port > MAX_PORT) {
    return `port ${parsed.port} of "${value}" is not within 1-65535`;
  }
  return parsed;
}
