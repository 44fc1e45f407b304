package dev.attune.app.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Help asked for goes to standard output with status 0, for the tool and for each command; a
 * wrong command line gets one line naming what is wrong and one pointing at the command's help
 * on standard error, status 2, not the whole usage text.
 */
class CliHelpTest {

    private record Run(int code, String out, String err) {}

    private static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = AttuneCli.run(
                args,
                new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @ParameterizedTest
    @ValueSource(strings = {"embed", "loglik", "generate", "probe"})
    void eachCommandsHelpGoesToStandardOutput(String command) {
        Run r = run(command, "--help");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("attune " + command), r.out());
        assertEquals("", r.err());
        Run h = run(command, "-h");
        assertEquals(0, h.code());
        assertEquals(r.out(), h.out());
    }

    @ParameterizedTest
    @ValueSource(strings = {"embed", "loglik", "generate"})
    void aWrongCommandLineIsOneLineAndAPointerToTheHelp(String command) {
        Run r = run(command, "--no-such-option", "x");
        assertEquals(2, r.code());
        String[] lines = r.err().strip().split("\n");
        assertEquals(2, lines.length, r.err());
        assertEquals("attune: " + command + ": unknown option --no-such-option", lines[0]);
        assertEquals("run 'attune " + command + " --help' for its options", lines[1]);
        assertEquals("", r.out());
    }

    @ParameterizedTest
    @ValueSource(strings = {"help", "--help", "-h"})
    void theToolsHelpGoesToStandardOutput(String arg) {
        Run r = run(arg);
        assertEquals(0, r.code());
        assertTrue(r.out().startsWith("usage: attune <command>"), r.out());
        assertTrue(r.out().contains("attune generate"), r.out());
        assertEquals("", r.err());
        Run unknown = run("frobnicate");
        assertEquals(2, unknown.code());
        assertEquals("attune: unknown command 'frobnicate'\nrun 'attune help' for the commands\n", unknown.err());
    }
}
