/**
 * A static reading of a Dockerfile, enough to hold it to our image rules without a Docker engine:
 * base images pinned by digest, a non-root numeric runtime user, a HEALTHCHECK, and `COPY --from`
 * naming a stage that exists.
 */
export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

export interface Stage {
  index: number;
  name: string | null;
  image: string;
  platform: string | null;
  line: number;
  instructions: Instruction[];
}

/** Instructions with continuation lines joined; comments and parser directives dropped. */
export function parseInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!;
    if (/^\s*(#|$)/.test(first)) continue;
    const start = i;
    let joined = first;
    while (/\\\s*$/.test(joined) && i + 1 < lines.length) {
      joined = joined.replace(/\\\s*$/, ' ');
      i++;
      // Comment lines inside a continuation are skipped by BuildKit too.
      if (!/^\s*#/.test(lines[i]!)) joined += lines[i]!;
    }
    const m = /^\s*(\S+)\s*(.*)$/.exec(joined);
    if (m) out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start + 1 });
  }
  return out;
}

/** Substitutes `${NAME}`/`$NAME` from global ARG defaults (the ones before the first FROM). */
function substitute(text: string, args: ReadonlyMap<string, string>): string {
  return text.replace(
    /\$\{(\w+)\}|\$(\w+)/g,
    (whole, a: string | undefined, b: string | undefined) => args.get((a ?? b)!) ?? whole,
  );
}

export function parseStages(text: string): Stage[] {
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of parseInstructions(text)) {
    if (ins.keyword === 'ARG' && stages.length === 0) {
      const m = /^(\w+)(?:=(?:"([^"]*)"|(\S*)))?$/.exec(ins.args);
      if (m?.[1] && (m[2] ?? m[3]) !== undefined) globalArgs.set(m[1], (m[2] ?? m[3])!);
      continue;
    }
    if (ins.keyword === 'FROM') {
      const tokens = ins.args.split(/\s+/);
      let platform: string | null = null;
      while (tokens[0]?.startsWith('--')) {
        const flag = tokens.shift()!;
        if (flag.startsWith('--platform=')) platform = flag.slice('--platform='.length);
      }
      const image = substitute(tokens[0] ?? '', globalArgs);
      const name = tokens[1]?.toUpperCase() === 'AS' ? (tokens[2] ?? null) : null;
      stages.push({ index: stages.length, name: name?.toLowerCase() ?? null, image, platform, line: ins.line, instructions: [] });
      continue;
    }
    stages.at(-1)?.instructions.push(ins);
  }
  return stages;
}

const DIGEST = /^[^@\s]+@sha256:[0-9a-f]{64}$/;

export function isDigestPinned(image: string): boolean {
  return DIGEST.test(image);
}

export interface DockerfileRules {
  /** Lowest numeric UID the runtime stage may run as. */
  minUid: number;
}

/** Every rule violation, one line each (empty when the Dockerfile passes). */
export function checkDockerfile(text: string, rules: DockerfileRules = { minUid: 10000 }): string[] {
  const problems: string[] = [];
  const stages = parseStages(text);
  if (stages.length === 0) return ['no FROM instruction'];
  const earlier = (stage: Stage, ref: string) =>
    stages.slice(0, stage.index).some((s) => s.name === ref.toLowerCase() || String(s.index) === ref);

  for (const stage of stages) {
    const label = `line ${stage.line} (FROM ${stage.image}${stage.name ? ` AS ${stage.name}` : ''})`;
    // A FROM naming an earlier stage inherits that stage's pin; `scratch` is no image at all.
    if (!earlier(stage, stage.image) && stage.image !== 'scratch' && !isDigestPinned(stage.image))
      problems.push(`${label}: base image is not pinned by @sha256:<64 hex digits>`);
    for (const ins of stage.instructions) {
      if (ins.keyword !== 'COPY' && ins.keyword !== 'ADD') continue;
      const from = /(?:^|\s)--from=(\S+)/.exec(ins.args)?.[1];
      if (from === undefined) continue;
      if (!earlier(stage, from) && !isDigestPinned(from))
        problems.push(
          `line ${ins.line}: ${ins.keyword} --from=${from} names no earlier stage (and is not a digest-pinned image)`,
        );
    }
  }

  const runtime = stages.at(-1)!;
  const user = runtime.instructions.filter((i) => i.keyword === 'USER').at(-1);
  if (!user) problems.push(`runtime stage (line ${runtime.line}) has no USER: it would run as root`);
  else {
    const m = /^(\d+)(?::(\d+))?$/.exec(user.args);
    if (!m)
      problems.push(
        `line ${user.line}: USER ${user.args} is not numeric (uid or uid:gid); Kubernetes runAsNonRoot cannot verify a name`,
      );
    else if (Number(m[1]) < rules.minUid) problems.push(`line ${user.line}: USER ${user.args}: uid must be ≥ ${rules.minUid}`);
  }
  const health = runtime.instructions.filter((i) => i.keyword === 'HEALTHCHECK').at(-1);
  if (!health || /^NONE$/i.test(health.args)) problems.push(`runtime stage (line ${runtime.line}) has no HEALTHCHECK`);
  return problems;
}
