package dev.attune.spark.conf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Generates docs/configs.md from {@link AttuneConf}. A test fails when the checked-in page differs
 * from what this produces; regenerate with
 * {@code java -cp ... dev.attune.spark.conf.ConfigDocs docs/configs.md} (or {@code bin/attune configs}).
 */
public final class ConfigDocs {

    private ConfigDocs() {}

    public static String render() {
        StringBuilder b = new StringBuilder();
        b.append("# Attune configuration\n\n");
        b.append("<!-- Generated from dev.attune.spark.conf.AttuneConf by ConfigDocs; do not edit by hand. -->\n\n");
        b.append(
                        "Every key is read from the Spark configuration (`--conf`, `spark-defaults.conf`, `SparkSession.builder`). ")
                .append(
                        "The driver checks all `spark.attune.*` keys before any executor starts: an unknown key or a bad ")
                .append("value stops the application with an error naming it.\n\n");
        b.append("| key | type | default | meaning |\n|---|---|---|---|\n");
        for (ConfEntry<?> e : AttuneConf.entries()) {
            b.append("| `")
                    .append(e.key())
                    .append("` | ")
                    .append(e.type())
                    .append(" | ")
                    .append(e.dflt().isEmpty() ? "(empty)" : "`" + e.dflt() + "`")
                    .append(" | ")
                    .append(cell(e.doc()))
                    .append(" |\n");
        }
        return b.toString();
    }

    /** Plain text as a table cell: bars escaped, and angle brackets so that "<name>" is not read as HTML. */
    private static String cell(String text) {
        return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;");
    }

    public static void main(String[] args) throws IOException {
        Path out = Path.of(args.length > 0 ? args[0] : "docs/configs.md");
        Files.writeString(out, render());
        System.out.println("wrote " + out);
    }
}
