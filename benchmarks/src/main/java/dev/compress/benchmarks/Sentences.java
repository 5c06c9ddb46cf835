package dev.compress.benchmarks;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Real English sentences from the license texts of Debian's {@code base-files} package
 * ({@code /usr/share/common-licenses}, present on every Debian system). Extraction is deterministic: whitespace
 * collapsed, split after '.', '!' or '?' before a capital, quote or parenthesis, sentences of 6 to 64 words kept,
 * duplicates dropped, files in the listed order.
 */
public final class Sentences {
    static final Path LICENSES = Path.of("/usr/share/common-licenses");
    /** The evaluation texts. */
    static final List<String> EVALUATION = List.of("GPL-3", "Apache-2.0", "MPL-2.0", "LGPL-2.1", "GPL-2", "GFDL-1.3");
    /** Calibration texts: other licenses; sentences also in the evaluation texts are dropped. */
    static final List<String> CALIBRATION = List.of("GPL-1", "Artistic", "LGPL-3", "MPL-1.1", "CC0-1.0", "BSD");
    private static final Pattern BOUNDARY = Pattern.compile("(?<=[.!?])\\s+(?=[A-Z\"(])");

    private Sentences() {}

    /** The evaluation sentences (about 520). */
    public static List<String> evaluation() {
        return List.copyOf(read(EVALUATION, Set.of()));
    }

    /** Calibration sentences, disjoint from {@link #evaluation()}. */
    public static List<String> calibration() {
        return List.copyOf(read(CALIBRATION, read(EVALUATION, Set.of())));
    }

    private static Set<String> read(List<String> files, Set<String> skip) {
        Set<String> sentences = new LinkedHashSet<>();
        for (String file : files) {
            String text;
            try {
                text = Files.readString(LICENSES.resolve(file), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException("sentences come from Debian's base-files package: " + e.getMessage(), e);
            }
            for (String sentence : BOUNDARY.split(String.join(" ", text.strip().split("\\s+")))) {
                int words = sentence.split(" ").length;
                if (words >= 6 && words <= 64 && !skip.contains(sentence)) {
                    sentences.add(sentence);
                }
            }
        }
        return sentences;
    }

    /** Writes sentences one per line (the text-calibration format). */
    public static Path write(List<String> sentences, Path file) throws IOException {
        List<String> lines = new ArrayList<>(sentences.size());
        sentences.forEach(s -> lines.add(s.replace('\n', ' ')));
        return Files.write(file, lines, StandardCharsets.UTF_8);
    }
}
