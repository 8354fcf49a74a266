/** @module runtime/gvisor/exec-wrapper — the shell every gVisor exec runs as, and the header it writes first (pure). */

/**
 * Runs as `sh -c WRAPPER tidepool-exec <cwd> <argv…>` inside the sandbox, in a process group of its own
 * (runsc exec makes each process a session and group leader). It writes one header line to stdout before
 * anything of the command: `K<pgid>` once in the cwd, or `C` when the cwd does not exist (then it exits).
 * The command runs in the foreground, in the same group; when it exits, every process it left in that
 * group is SIGKILLed (rounds until none is left, so a forking loop cannot outrun it), then the wrapper
 * exits with the command's status. The host kills a whole command (timeout, kill()) by that pgid.
 */
export const EXEC_WRAPPER = [
  // pgrp is the 3rd field after the command name (which may hold spaces, so cut after its last ") ").
  'read -r s < /proc/$$/stat; s=${s##*) }; s=${s#* }; s=${s#* }; pg=${s%% *}',
  'cd -- "$0" 2>/dev/null || { echo C; exit 0; }',
  'echo "K$pg"',
  // $0 was the cwd: the command is "$@" after the wrapper's own name (see wrapperArgs).
  '"$@"; rc=$?',
  'more=1; while [ $more = 1 ]; do more=0; for p in /proc/[0-9]*; do',
  '  read -r s 2>/dev/null < $p/stat || continue; s=${s##*) }; set -- $s',
  '  [ "$3" = "$pg" ] && [ "${p#/proc/}" != $$ ] && [ "$1" != Z ] && [ "$1" != X ] && kill -KILL ${p#/proc/} 2>/dev/null && more=1',
  'done; done',
  'exit $rc',
].join('\n')

/** argv of one exec: sh runs the wrapper with $0 = cwd and "$@" = the command (so no argument is ever re-parsed). */
export function wrapperArgs(cwd: string, cmd: string[]): string[] {
  return ['/bin/sh', '-c', EXEC_WRAPPER, cwd, ...cmd]
}

export type ExecHeader = { kind: 'started'; pgid: number } | { kind: 'no-cwd' }

/** The header line (without its newline), or undefined when it is not one the wrapper writes. */
export function parseHeader(line: string): ExecHeader | undefined {
  if (line === 'C') return { kind: 'no-cwd' }
  const m = /^K([0-9]{1,10})$/.exec(line)
  return m ? { kind: 'started', pgid: Number(m[1]) } : undefined
}
