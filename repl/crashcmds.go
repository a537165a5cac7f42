package repl

import "flag"

// crashCommands are the commands that give a crash user's muscle memory
// its forms (alias, eval, ascii, task, foreach, search, kmem, runq, ...);
// builtinCommands appends them to the table.
func crashCommands() []Command {
	return []Command{
		{Name: "alias", Usage: "alias [NAME [COMMAND...]]",
			Help: "List the aliases, or make NAME run COMMAND (with the rest of the line appended), as crash's alias.\nAn alias may not hide a command; the built-in aliases (q, dmesg, ...) are listed too.",
			Run:  cmdAlias},
		{Name: "eval", Usage: "eval [-x|-d] EXPR", Complete: CompleteSymbol,
			Help: "Evaluate a C expression and print the value in hexadecimal (with its size unit when it is a multiple of 1 KiB), decimal, octal and binary, as crash's eval does.\nThe expression is p's: symbols, casts, members, arithmetic.",
			Flags: func(fs *flag.FlagSet) {
				fs.Bool("x", false, "(ignored: every base is printed)")
				fs.Bool("d", false, "(ignored: every base is printed)")
			}, Run: cmdEval},
	}
}
