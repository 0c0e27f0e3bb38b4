import type { Command, Option } from "commander";
import { UsageError } from "../../common/errors.ts";

const SHELLS = ["bash", "zsh", "fish"] as const;
type Shell = (typeof SHELLS)[number];

/** Values offered for an argument or flag value, beyond files; keyed by command path ("get") and name. */
const ARGUMENT_VALUES: Record<string, readonly string[]> = {
  "get kind": ["services", "routes", "policies", "faultexperiments", "authorizationpolicies", "peerauthentications"],
  "delete kind": ["service", "route", "policy", "faultexperiment", "authorizationpolicy", "peerauthentication"],
  "completion shell": SHELLS,
  "proxy-config section": ["routes", "clusters", "endpoints", "policies"],
};
const FLAG_VALUES: Record<string, readonly string[]> = {
  "--output": ["json", "yaml", "wide", "name"],
  "--log-level": ["trace", "debug", "info", "warn", "error", "fatal", "silent"],
  "--fail-on": ["error", "warning", "info"],
  "--dry-run": ["server", "client", "none"],
  "--side": ["outbound", "inbound"],
  "--role": ["admin", "operator", "config-writer", "read-only", "sidecar"],
};
/** Flags whose value is a path. */
const FILE_FLAGS = new Set([
  "--filename",
  "--config",
  "--data-dir",
  "--tls-cert",
  "--tls-key",
  "--report",
  "--ca-file",
]);

interface Node {
  /** "cluster add" */
  path: string;
  command: Command;
}

/** Every command below the root, parents before children. */
function walk(root: Command): Node[] {
  const out: Node[] = [];
  const visit = (c: Command, prefix: string) => {
    for (const sub of c.commands) {
      const path = prefix === "" ? sub.name() : `${prefix} ${sub.name()}`;
      out.push({ path, command: sub });
      visit(sub, path);
    }
  };
  visit(root, "");
  return out;
}

function flagsOf(c: Command): string[] {
  const flags = c.options.flatMap((o: Option) => [o.short, o.long].filter((f): f is string => f !== undefined));
  return [...flags, "--help"];
}

/** Words completed at a position of `path`: its subcommands, its first argument's values, its flags. */
function wordsFor(node: { path: string; command: Command }): string[] {
  const subs = node.command.commands.map((c) => c.name());
  const first = node.command.registeredArguments[0]?.name();
  const values = first === undefined ? [] : (ARGUMENT_VALUES[`${node.path} ${first}`] ?? []);
  return [...subs, ...values, ...flagsOf(node.command)];
}

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/**
 * Completion scripts generated from the command tree itself, so a new
 * command or flag is completed without anyone editing a script: subcommands,
 * flags, the values of -o / --log-level / --dry-run / --fail-on, resource
 * kinds, and file names for -f / --config / --data-dir.
 */
export function completionScript(root: Command, shell: Shell): string {
  const nodes = [{ path: "", command: root }, ...walk(root)];
  const paths = walk(root);
  const name = root.name();
  const valueFlags = Object.entries(FLAG_VALUES);
  // A flag's values are offered only after the commands where it takes a value (`iptables --dry-run` takes none).
  const takesValue = (flag: string) =>
    paths
      .filter((n) => n.command.options.some((o) => o.long === flag && (o.required || o.optional)))
      .map((n) => quote(n.path))
      .join("|");
  if (shell === "bash") {
    return `# ${name} completion for bash: source <(${name} completion bash)
_${name}() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} cmd="" w i
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    case "\${cmd:+$cmd }$w" in
${paths.map((n) => `      ${quote(n.path)}) cmd=${quote(n.path)} ;;`).join("\n")}
    esac
  done
  case "$prev" in
${valueFlags
  .filter(([flag]) => takesValue(flag) !== "")
  .map(
    ([flag, values]) =>
      `    ${flag}${flag === "--output" ? "|-o" : ""}) case "$cmd" in ${takesValue(flag)}) COMPREPLY=($(compgen -W ${quote(values.join(" "))} -- "$cur")); return ;; esac ;;`,
  )
  .join("\n")}
    ${[...FILE_FLAGS].join("|")}|-f) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  local words
  case "$cmd" in
${nodes.map((n) => `    ${quote(n.path)}) words=${quote(wordsFor(n).join(" "))} ;;`).join("\n")}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _${name} ${name}
`;
  }
  if (shell === "zsh") {
    return `#compdef ${name}
# ${name} completion for zsh: source <(${name} completion zsh), or save it as _${name} in a directory of $fpath
_${name}() {
  local cmd="" w i prev=\${words[CURRENT-1]}
  for ((i = 2; i < CURRENT; i++)); do
    w=\${words[i]}
    case "\${cmd:+$cmd }$w" in
${paths.map((n) => `      (${quote(n.path)}) cmd=${quote(n.path)} ;;`).join("\n")}
    esac
  done
  case "$prev" in
${valueFlags
  .filter(([flag]) => takesValue(flag) !== "")
  .map(
    ([flag, values]) =>
      `    (${flag}${flag === "--output" ? "|-o" : ""}) case "$cmd" in (${takesValue(flag)}) compadd -- ${values.join(" ")}; return ;; esac ;;`,
  )
  .join("\n")}
    (${[...FILE_FLAGS].join("|")}|-f) _files; return ;;
  esac
  case "$cmd" in
${nodes.map((n) => `    (${quote(n.path)}) compadd -- ${wordsFor(n).join(" ")} ;;`).join("\n")}
  esac
}
compdef _${name} ${name}
`;
  }
  const lines = [`# ${name} completion for fish: ${name} completion fish | source`, `complete -c ${name} -f`];
  for (const n of nodes) {
    const parents = n.path === "" ? [] : n.path.split(" ");
    const children = n.command.commands.map((c) => c.name());
    // The condition that the words typed so far are exactly this command's path.
    // A top-level command named like a nested one (get, config get) must not be taken for it.
    const namesakes = root.commands
      .filter((c) => parents.length === 1 && c.commands.some((sub) => sub.name() === parents[0]))
      .map((c) => c.name());
    const cond =
      parents.length === 0
        ? "__fish_use_subcommand"
        : [
            `__fish_seen_subcommand_from ${parents.at(-1)}`,
            ...(children.length > 0 ? [`not __fish_seen_subcommand_from ${children.join(" ")}`] : []),
            ...(parents.length > 1 ? [`__fish_seen_subcommand_from ${parents[0]}`] : []),
            ...(namesakes.length > 0 ? [`not __fish_seen_subcommand_from ${namesakes.join(" ")}`] : []),
          ].join("; and ");
    for (const sub of n.command.commands)
      lines.push(`complete -c ${name} -n ${quote(cond)} -a ${sub.name()} -d ${quote(sub.description().slice(0, 80))}`);
    const first = n.command.registeredArguments[0]?.name();
    const values = first === undefined ? undefined : ARGUMENT_VALUES[`${n.path} ${first}`];
    if (values !== undefined) lines.push(`complete -c ${name} -n ${quote(cond)} -a ${quote(values.join(" "))}`);
    for (const o of n.command.options) {
      const long = o.long?.replace(/^--/, "");
      const parts = [`complete -c ${name} -n ${quote(cond)}`];
      if (o.short !== undefined) parts.push(`-s ${o.short.replace(/^-/, "")}`);
      if (long !== undefined) parts.push(`-l ${long}`);
      const flagValues = o.long === undefined ? undefined : FLAG_VALUES[o.long];
      if (flagValues !== undefined && (o.required || o.optional)) parts.push(`-xa ${quote(flagValues.join(" "))}`);
      else if (o.long !== undefined && FILE_FLAGS.has(o.long)) parts.push("-rF");
      else if (o.required) parts.push("-x");
      parts.push(`-d ${quote(o.description.slice(0, 80))}`);
      lines.push(parts.join(" "));
    }
  }
  return `${lines.join("\n")}\n`;
}

export function registerCompletion(program: Command): void {
  program
    .command("completion")
    .description("print a shell completion script: bash, zsh or fish (source <(meshlet completion bash))")
    .argument("<shell>", SHELLS.join(" | "))
    .action((shell: string) => {
      if (!(SHELLS as readonly string[]).includes(shell))
        throw new UsageError(`unknown shell "${shell}" (expected ${SHELLS.join(", ")})`);
      process.stdout.write(completionScript(program, shell as Shell));
    });
}
