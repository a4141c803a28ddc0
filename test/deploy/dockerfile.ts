/**
 * A small reader of the Dockerfile and .dockerignore, for the tests that lint them and replay the
 * Dockerfile's steps (no image can be built on this machine: no daemon, no base images).
 */

export interface Instruction {
  /** Upper-cased: FROM, RUN, COPY... */
  op: string;
  /** The rest of the line, continuations joined. */
  args: string;
  line: number;
}

export interface Stage {
  /** `FROM image AS name`: the name, or the index as a string. */
  name: string;
  from: string;
  instructions: Instruction[];
}

/** Instructions in order; comments and blank lines dropped; `\` continuations joined. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      i++;
      const next = lines[i]!;
      if (/^\s*#/.test(next)) continue;
      line = line.replace(/\\\s*$/, ' ') + next.trim();
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile:${start + 1}: not an instruction: ${line}`);
    out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start + 1 });
  }
  return out;
}

/** The stages; instructions before the first FROM (global ARGs) are left out. */
export function stages(instructions: Instruction[]): Stage[] {
  const out: Stage[] = [];
  for (const ins of instructions) {
    if (ins.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Dockerfile:${ins.line}: FROM ${ins.args}`);
      out.push({ name: m[2] ?? String(out.length), from: m[1]!, instructions: [] });
    } else if (out.length > 0) out[out.length - 1]!.instructions.push(ins);
  }
  return out;
}

/** The exec form (JSON array) of CMD, ENTRYPOINT, VOLUME...; throws on the shell form. */
export function execForm(ins: Instruction): string[] {
  const parsed = JSON.parse(ins.args) as unknown;
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`Dockerfile:${ins.line}: ${ins.op} is not in exec form`);
  return parsed as string[];
}

/** `KEY="value" KEY2=value` of LABEL and ENV, with `${ARG}` left as written. */
export function keyValues(args: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /([\w.-]+)=("((?:[^"\\]|\\.)*)"|\S+)/g;
  for (let m = re.exec(args); m !== null; m = re.exec(args)) out.set(m[1]!, m[3] ?? m[2]!);
  return out;
}

/**
 * A .dockerignore as a predicate on slash-separated paths relative to the context: Go
 * filepath.Match patterns plus `**`, `!` exceptions, last match wins; a path is out when it or a
 * directory above it is (docker does not descend into an excluded directory without an exception).
 */
export function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = (negate ? l.slice(1) : l).replace(/^\/+/, '').replace(/\/+$/, '');
      const re = pattern
        .split('/')
        .map((seg) => (seg === '**' ? '(?:.*)' : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
        .join('/')
        .replace(/\(\?:\.\*\)\//g, '(?:.*/)?');
      return { negate, regex: new RegExp(`^${re}$`) };
    });
  return (path) => {
    const parts = path.split('/');
    let excluded = false;
    for (let n = 1; n <= parts.length; n++) {
      const prefix = parts.slice(0, n).join('/');
      for (const r of rules) if (r.regex.test(prefix)) excluded = !r.negate;
    }
    return excluded;
  };
}
