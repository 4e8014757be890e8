import type { Command, CommanderError } from 'commander';
import { EXIT, SheriError } from '../errors.js';
import { didYouMean } from './suggest.js';

/** `sheri task submit`: how a user types the command. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let at: Command | null = command; at; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}

function* allCommands(command: Command): Generator<Command> {
  yield command;
  for (const sub of command.commands) yield* allCommands(sub);
}

/** commander keeps whether a command has an action to itself. */
function hasAction(command: Command): boolean {
  return Boolean((command as unknown as { _actionHandler?: unknown })._actionHandler);
}

/** A command's sub-commands by name, for suggestions (so commands added later count too). */
function subcommandNames(command: Command): string[] {
  return command.commands.flatMap((sub) => [sub.name(), ...sub.aliases()]);
}

function unknownCommand(command: Command, name: string): SheriError {
  const path = commandPath(command);
  const where = command.parent ? ` for ${path}` : '';
  return new SheriError(
    `unknown command "${name}"${where}${didYouMean(name, subcommandNames(command))} (${path} --help lists the commands)`,
    EXIT.usage,
  );
}

/** A group (`sheri task`, `sheri swarm`) run alone, or with a word that is none of its commands. */
function refuseOperands(command: Command): void {
  const [first] = command.args;
  if (first !== undefined) throw unknownCommand(command, first);
}

/**
 * The one error path of the command line (README "Commands"): every mistake commander finds —
 * an unknown option, command or argument, a missing one — becomes a SheriError of exit code 2
 * with one line saying what was wrong and where the help is; bin/sheri.ts prints it. Applied to
 * every command of the program, so a command added later gets it too.
 */
export function prepareCommands(program: Command): Command {
  // Our own `help [command...]`: commander's says nothing of an unknown name.
  program.helpCommand(false);
  program
    .command('help')
    .description('show the help of a command: sheri help task submit')
    .argument('[command...]', 'the command')
    .action((names: string[]) => {
      let target: Command = program;
      for (const name of names) {
        const next = target.commands.find(
          (sub) => sub.name() === name || sub.aliases().includes(name),
        );
        if (!next) throw unknownCommand(target, name);
        target = next;
      }
      target.outputHelp();
    });
  for (const command of allCommands(program)) {
    command
      .exitOverride((error) => {
        // --help and --version: the text is out, and nothing went wrong.
        if (error.exitCode === 0) throw error;
        throw usageError(error, command);
      })
      // Printed once, as one line, by bin/sheri.ts.
      .configureOutput({ outputError: () => undefined })
      .showSuggestionAfterError(true)
      .showHelpAfterError(false);
    if (command.commands.length === 0) continue;
    // A group: a word that is not one of its commands is an unknown command, not an argument.
    command.allowExcessArguments(true);
    if (hasAction(command)) {
      command.hook('preAction', (_self, actionCommand) => {
        if (actionCommand === command) refuseOperands(command);
      });
    } else {
      command.action(() => {
        refuseOperands(command);
        const path = commandPath(command);
        throw new SheriError(
          `${path} needs a command: ${command.commands.map((sub) => sub.name()).join(', ')} (${path} --help)`,
          EXIT.usage,
        );
      });
    }
  }
  return program;
}

/** commander's words, made into one line that says where the help is. */
function usageError(error: CommanderError, command: Command): SheriError {
  const path = commandPath(command);
  const help = `${path} --help`;
  const text = error.message.replace(/^error: /, '');
  const match = (pattern: RegExp): RegExpExecArray | null => pattern.exec(text);
  let message: string;
  let found: RegExpExecArray | null;
  if (error.code === 'commander.unknownOption' && (found = match(/unknown option '([^']*)'/))) {
    const suggestion = /\(Did you mean (.+)\?\)/.exec(text)?.[1];
    message = `unknown option ${found[1]} for ${path}${suggestion ? ` — did you mean ${suggestion}?` : ''} (${help} lists its options)`;
  } else if (
    error.code === 'commander.missingMandatoryOptionValue' &&
    (found = match(/required option '([^']*)'/))
  ) {
    message = `${path} needs ${found[1]} (${help})`;
  } else if (
    error.code === 'commander.missingArgument' &&
    (found = match(/missing required argument '([^']*)'/))
  ) {
    message = `${path} needs its <${found[1]}> argument (${help})`;
  } else if (error.code === 'commander.excessArguments') {
    const expected = command.registeredArguments.length;
    const extra = command.args.slice(expected).map((arg) => `"${arg}"`);
    message = `${path} takes ${expected === 0 ? 'no arguments' : `${expected} argument${expected === 1 ? '' : 's'}`}, got ${extra.join(' ')} (${help})`;
  } else if (
    error.code === 'commander.optionMissingArgument' &&
    (found = match(/option '([^']*)' argument missing/))
  ) {
    message = `${found[1]} needs a value (${help})`;
  } else {
    message = `${text.replace(/\n\(Did you mean (.+)\?\)/, ' — did you mean $1?').replace(/\s*\n\s*/g, ' ')} (${help})`;
  }
  return new SheriError(message, EXIT.usage, { cause: error });
}
