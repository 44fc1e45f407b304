package dev.attune.app.job;

/** {@code bin/attune score ...}: the scoring job from the command line (see {@link ScoringJob}). */
public final class ScoreCommand {

    private ScoreCommand() {}

    public static int run(String[] args) {
        if (args.length > 1 && (args[1].equals("--help") || args[1].equals("-h"))) {
            System.err.println(ScoringJob.USAGE);
            return 0;
        }
        String[] withMaster = args;
        if (!String.join(" ", args).contains("--master")) {
            withMaster = java.util.Arrays.copyOf(args, args.length + 2);
            withMaster[args.length] = "--master";
            withMaster[args.length + 1] = "local[*]";
        }
        return ScoringJob.run(withMaster, System.err);
    }
}
