/**
 * `advserve keys add|list|remove`: manage the API key file (format in src/keys/file.ts).
 * The file is --file, else ADVSERVE_API_KEYS_FILE. A running service reads it at start only.
 */
import { parseArgs } from 'node:util';
import { KeyFileError, addKey, listKeys, parseScopes, removeKey } from './file';

export const KEYS_USAGE = `usage:
  advserve keys add <name> --scopes attack[,admin] [--file F]   create a key; printed once, alone on the last line
  advserve keys list [--file F]                                 names and scopes
  advserve keys remove <name> [--file F]
The file defaults to ADVSERVE_API_KEYS_FILE. Scopes: attack (attack, classify, defense evaluate), admin (/metrics).
Restart the service to apply changes.`;

class KeysUsageError extends Error {}

function keyFile(given: string | undefined, env: NodeJS.ProcessEnv): string {
  const file = given || env.ADVSERVE_API_KEYS_FILE;
  if (!file) throw new KeysUsageError('no key file: give --file F or set ADVSERVE_API_KEYS_FILE');
  return file;
}

/** Runs a `keys` subcommand; returns the exit code (0, or 2 for usage and file errors). */
export async function keysCommand(argv: string[], env: NodeJS.ProcessEnv = process.env, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  try {
    const [sub, ...rest] = argv;
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { file: { type: 'string' }, scopes: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
    });
    if (values.help || sub === 'help' || sub === '--help' || sub === '-h') {
      out.write(`${KEYS_USAGE}\n`);
      return 0;
    }
    switch (sub) {
      case 'add': {
        if (positionals.length !== 1) throw new KeysUsageError('keys add needs one name');
        if (values.scopes === undefined) throw new KeysUsageError('keys add needs --scopes attack[,admin]');
        let scopes;
        try {
          scopes = parseScopes(values.scopes);
        } catch (e) {
          throw new KeysUsageError(`--scopes: ${(e as Error).message}`);
        }
        const file = keyFile(values.file, env);
        const key = await addKey(file, positionals[0], scopes);
        out.write(
          `Added key "${positionals[0]}" (scopes ${scopes.join(',')}) to ${file}; restart the service to use it.\n` +
            'The key is shown only this once (the file keeps a hash of it). Clients send it as "Authorization: Bearer <key>":\n' +
            `${key}\n`,
        );
        return 0;
      }
      case 'list': {
        if (positionals.length !== 0) throw new KeysUsageError('keys list takes no arguments');
        for (const k of await listKeys(keyFile(values.file, env))) out.write(`${k.name}\t${k.scopes.join(',')}\n`);
        return 0;
      }
      case 'remove': {
        if (positionals.length !== 1) throw new KeysUsageError('keys remove needs one name');
        const file = keyFile(values.file, env);
        await removeKey(file, positionals[0]);
        out.write(`Removed key "${positionals[0]}" from ${file}; restart the service to apply.\n`);
        return 0;
      }
      default:
        throw new KeysUsageError(sub === undefined ? 'keys needs a subcommand' : `unknown keys subcommand "${sub}"`);
    }
  } catch (e) {
    if (e instanceof KeysUsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      err.write(`advserve: ${(e as Error).message}\n\n${KEYS_USAGE}\n`);
      return 2;
    }
    if (e instanceof KeyFileError || (e as NodeJS.ErrnoException).code) {
      err.write(`advserve: ${(e as Error).message}\n`);
      return 2;
    }
    throw e;
  }
}
