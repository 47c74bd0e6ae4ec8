// Brings a checkout up to date before `npm start`, `npm test` (with --test) or `npm run bench`:
// npm packages (from package-lock.json), the local stack's binaries (and for the tests the
// real vendor servers and a browser), the code generated from proto/, and the console built
// from web/console/ into .build/console/. Each step is skipped when its inputs have not changed.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

function hashOf(paths) {
  const hash = createHash('sha256');
  const visit = (path) => {
    if (statSync(path).isDirectory()) {
      for (const entry of readdirSync(path).sort()) visit(join(path, entry));
    } else {
      hash.update(path.slice(root.length)).update(readFileSync(path));
    }
  };
  paths.forEach((path) => visit(join(root, path)));
  return hash.digest('hex');
}

function run(command, args) {
  try {
    const path = `${join(root, 'node_modules', '.bin')}:${process.env.PATH}`;
    execFileSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, PATH: path } });
  } catch (error) {
    console.error(`ensure: \`${command} ${args.join(' ')}\` failed (${error.message.split('\n')[0]})`);
    process.exit(1);
  }
}

function upToDate(stampPath, hash) {
  return existsSync(stampPath) && readFileSync(stampPath, 'utf8') === hash;
}

const lockHash = hashOf(['package-lock.json']);
const lockStamp = join(root, 'node_modules', '.auditstream-lock');
if (!upToDate(lockStamp, lockHash)) {
  console.log('ensure: installing npm packages (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
  writeFileSync(lockStamp, lockHash);
}

// `npm test` also needs the real vendor servers the suite delivers to; `npm start` does not.
run('bash', [join(root, 'scripts', 'install-tools.sh'), ...(process.argv.includes('--test') ? ['--test'] : [])]);

const protoHash = hashOf(['proto', 'buf.gen.yaml', 'buf.yaml']);
const protoStamp = join(root, 'src', 'gen', '.stamp');
if (!upToDate(protoStamp, protoHash)) {
  console.log('ensure: generating code from proto/ (buf generate)');
  run(join(root, 'node_modules', '.bin', 'buf'), ['generate']);
  writeFileSync(protoStamp, protoHash);
}

const consoleSources = join(root, 'web', 'console');
const consoleDir = join(root, '.build', 'console');
const consoleHash = hashOf(['web/console', 'src/gen', 'package-lock.json']);
const consoleStamp = join(consoleDir, '.stamp');
if (!upToDate(consoleStamp, consoleHash)) {
  console.log('ensure: building the console (esbuild, web/console -> .build/console)');
  const { build } = await import('esbuild');
  rmSync(consoleDir, { recursive: true, force: true });
  mkdirSync(consoleDir, { recursive: true });
  try {
    await build({
      entryPoints: [join(consoleSources, 'app.ts')],
      bundle: true,
      format: 'esm',
      target: 'es2022',
      minify: true,
      legalComments: 'none',
      logLevel: 'warning',
      outfile: join(consoleDir, 'app.js'),
    });
  } catch (error) {
    console.error(`ensure: building the console failed (${error.message.split('\n')[0]})`);
    process.exit(1);
  }
  for (const file of ['index.html', 'app.css']) copyFileSync(join(consoleSources, file), join(consoleDir, file));
  writeFileSync(consoleStamp, consoleHash);
}
