package dev.attune.app.job;

/** {@code bin/attune demo}: see {@link Demo}. */
public final class DemoCommand {

    private DemoCommand() {}

    public static int run(String[] args) throws Exception {
        return Demo.run(args, System.out);
    }
}
