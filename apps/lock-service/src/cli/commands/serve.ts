// quorumlock serve: one node of a cluster, configured by flags or QUORUMLOCK_* variables.
import type { Command } from 'commander';
import {
  CONFIG_OPTIONS,
  ConfigError,
  type ConfigFlags,
  loadServerConfig,
  type ServerConfig,
} from '../../config/config.js';
import { DataDirError } from '../../data-dir.js';
import { createLogger, serve } from '../../server.js';
import { TransportSecurity } from '../../tls/transport-security.js';
import { usageError } from './common.js';

export function registerServe(program: Command): void {
  const command = program
    .command('serve')
    .description('run one node of a Quorum Lock cluster (flags override QUORUMLOCK_* variables)');
  for (const o of CONFIG_OPTIONS) {
    const dflt = o.default === undefined ? '' : `, default ${o.default}`;
    const flag = o.value === undefined ? o.flag : `${o.flag} <${o.value}>`;
    command.option(flag, `${o.description} [${o.env}${dflt}]`);
    if (o.alias) {
      const value = o.value === undefined ? '' : ` <${o.value}>`;
      command.option(`${o.alias.flag}${value}`, `alias of ${o.flag} [${o.alias.env}]`);
    }
  }
  command.action(async (flags: ConfigFlags, cmd: Command) => {
    let config: ServerConfig;
    try {
      config = loadServerConfig(flags);
    } catch (err) {
      if (err instanceof ConfigError) usageError(cmd, err.message);
      throw err;
    }
    const logger = createLogger(config).child({ node: config.id });
    let code = 0;
    try {
      // Reads the certificate files: one that is missing or bad is a configuration error.
      const security = new TransportSecurity(config, logger);
      const server = await serve(config, { logger, security });
      await server.closed;
    } catch (err) {
      if (err instanceof ConfigError) usageError(cmd, err.message);
      if (err instanceof DataDirError) {
        // Not a crash: the data dir is not this node's to use. EX_CONFIG, as for another cluster.
        logger.fatal({ err: err.message }, 'refusing to start on this data dir');
        process.stderr.write(`quorumlock serve: ${err.message}\n`);
        code = 78;
      } else {
        logger.fatal({ err }, 'quorumlock serve failed');
        code = 1;
      }
    }
    // Explicit: a handle some library forgot to close must not keep a stopped node alive.
    process.exit(code);
  });
}
