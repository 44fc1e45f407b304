package dev.attune.app.cli;

import dev.attune.app.job.DemoCommand;
import dev.attune.app.job.ScoreCommand;
import dev.attune.kernels.select.UnsupportedPathException;
import dev.attune.model.ModelFormatException;
import java.io.PrintStream;

/**
 * The {@code bin/attune} command line. Exit codes: 0 success, 1 the work failed (bad model, bad
 * input row, I/O), 2 the command line itself is wrong. Every failure is one line naming what is
 * wrong and where; {@code --verbose} (any command) adds its stack trace.
 */
public final class AttuneCli {

    static final String USAGE = """
            usage: attune <command> [options] [--verbose]

            commands:
            """ + EmbedCommand.USAGE.indent(2) + LoglikCommand.USAGE.indent(2)
            + GenerateCommand.USAGE.indent(2) + ProbeCommand.USAGE.indent(2) + """
              attune demo [--simulate T4+A100]
                         the scoring job in Spark local mode on the sample, then nearest neighbours
              attune score --input PATH --output PATH [...]   (attune score --help)
                         the resumable scoring job (Spark); see docs/deploying.md
              attune configs [docs/configs.md]
                         regenerate the configuration reference from the registry
              attune bench cpu-embed [--input F] [--threads N] [--batch-size N] [--rows N] [--repeat N]
              attune bench cpu-attention [--threads N] [--heads N] [--head-dim N]
              attune bench decoder-prefill --model DIR [--threads N] [--tokens 128,512] [--repeat N]
                         benchmarks recorded in docs/benchmarks.md
            """;

    private AttuneCli() {}

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    public static int run(String[] args, PrintStream err) {
        return run(args, System.out, err);
    }

    /** Commands that live in the examples module (bench), found by name so the plugin does not depend on it. */
    private static int runOptional(String className, String[] args) throws Exception {
        Class<?> c;
        try {
            c = Class.forName(className);
        } catch (ClassNotFoundException e) {
            throw new CliArgs.UsageException(args[0] + " needs the attune-examples module on the classpath");
        }
        return (int) c.getMethod("run", String[].class).invoke(null, (Object) args);
    }

    /** The usage of one command, for {@code attune <command> --help}; null for a command without its own. */
    private static String usageOf(String command) {
        return switch (command) {
            case "embed" -> EmbedCommand.USAGE;
            case "loglik" -> LoglikCommand.USAGE;
            case "generate" -> GenerateCommand.USAGE;
            case "probe" -> ProbeCommand.USAGE;
            default -> null;
        };
    }

    public static int run(String[] args, PrintStream out, PrintStream err) {
        if (args.length == 0) {
            err.print(USAGE);
            return 2;
        }
        if (args[0].equals("help") || args[0].equals("--help") || args[0].equals("-h")) {
            out.print(USAGE); // asked for: standard output, success
            return 0;
        }
        String own = usageOf(args[0]);
        if (own != null
                && java.util.Arrays.asList(args).subList(1, args.length).stream()
                        .anyMatch(a -> a.equals("--help") || a.equals("-h"))) {
            out.println(own);
            return 0;
        }
        // --verbose, for any command: a failure's stack trace after its one line.
        boolean verbose = java.util.Arrays.asList(args).contains("--verbose");
        if (verbose && !args[0].equals("score")) {
            args = java.util.Arrays.stream(args)
                    .filter(a -> !a.equals("--verbose"))
                    .toArray(String[]::new);
        }
        try {
            return switch (args[0]) {
                case "embed" -> EmbedCommand.run(args, err);
                case "loglik" -> LoglikCommand.run(args, err);
                case "generate" -> GenerateCommand.run(args, err);
                case "probe" -> ProbeCommand.run(args, out);
                case "configs" -> {
                    dev.attune.spark.conf.ConfigDocs.main(args.length > 1 ? new String[] {args[1]} : new String[0]);
                    yield 0;
                }
                case "bench" -> runOptional("dev.attune.examples.bench.BenchCommand", args);
                case "score" -> ScoreCommand.run(args);
                case "demo" -> DemoCommand.run(args);
                default -> throw new CliArgs.UsageException("unknown command '" + args[0] + "'");
            };
        } catch (CliArgs.UsageException e) {
            // One line naming what is wrong, and where the usage is; not the whole usage text.
            err.println("attune: " + e.getMessage());
            err.println(
                    own != null
                            ? "run 'attune " + args[0] + " --help' for its options"
                            : "run 'attune help' for the commands");
            return 2;
        } catch (JsonlInput.InputException | CliFailure | ModelFormatException | UnsupportedPathException e) {
            err.println("attune: " + e.getMessage());
            if (verbose) {
                e.printStackTrace(err);
            }
            return 1;
        } catch (Exception e) {
            err.println("attune: " + e);
            if (verbose) {
                e.printStackTrace(err);
            } else {
                err.println("run the command again with --verbose for the stack trace");
            }
            return 1;
        }
    }
}
