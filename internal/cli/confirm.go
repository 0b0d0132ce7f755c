package cli

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"
)

// confirm asks question on a terminal and wants "y" or "yes". Without a
// terminal there is nobody to ask: it refuses and names --yes, so a script
// never deletes data by accident.
func confirm(env *Env, question string) error {
	f, ok := env.Stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return usagef("%s stdin is no terminal to ask on: pass --yes to go ahead", question)
	}
	fmt.Fprintf(env.Stderr, "%s [y/N] ", question)
	line, _ := bufio.NewReader(f).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return fmt.Errorf("not confirmed; nothing removed")
}
