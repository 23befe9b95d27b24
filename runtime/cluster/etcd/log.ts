// The logger shape the etcd adapters accept: a pino logger or anything with these methods.
export interface Log {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = () => undefined;
export const silentLog: Log = { debug: noop, info: noop, warn: noop, error: noop };
