package dev.compress.data;

import dev.compress.CompressException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/** File helpers shared by the datasets: strict text reading, name order, listing. */
public final class DataFiles {
    /**
     * Unicode code point order, the same on every platform and locale ({@link Path#compareTo} is case-insensitive on
     * Windows, {@link String#compareTo} orders by UTF-16 units).
     */
    static final Comparator<String> UNICODE_ORDER = (a, b) -> {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i);
            int cb = b.codePointAt(j);
            if (ca != cb) {
                return Integer.compare(ca, cb);
            }
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    };

    private DataFiles() {}

    /** A UTF-8 text file's content without a leading byte order mark. */
    static String readText(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw readError(file, e);
        }
        String text;
        try {
            text = StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes))
                    .toString();
        } catch (CharacterCodingException e) {
            throw CompressException.badInput(file, "not UTF-8 text", e);
        }
        return text.startsWith("\uFEFF") ? text.substring(1) : text;
    }

    /**
     * Class names from a labels file: one per line, in label-index order; blank lines are skipped and names are
     * trimmed and put in NFC (see {@link #name}).
     */
    public static List<String> readLabels(Path file) {
        List<String> names = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        String[] lines = readText(file).split("\r?\n|\r", -1);
        for (int i = 0; i < lines.length; i++) {
            String name = Normalizer.normalize(lines[i].strip(), Normalizer.Form.NFC);
            if (name.isEmpty()) {
                continue;
            }
            if (!seen.add(name)) {
                throw CompressException.badInput(file, "line " + (i + 1) + ": class '" + name + "' is listed twice");
            }
            names.add(name);
        }
        if (names.isEmpty()) {
            throw CompressException.badInput(file, "no class names (expected one per line)");
        }
        return List.copyOf(names);
    }

    /** A one-line error for a file that could not be read. */
    static CompressException readError(Path file, IOException e) {
        if (e instanceof NoSuchFileException) {
            return CompressException.badInput(file, "no such file", e);
        }
        if (e instanceof AccessDeniedException) {
            return CompressException.badInput(file, "cannot read (permission denied)", e);
        }
        return CompressException.badInput(file, "cannot read (" + oneLine(String.valueOf(e.getMessage())) + ")", e);
    }

    /**
     * The entries of a folder, hidden ones (name starting with '.') left out, in {@link #UNICODE_ORDER}.
     *
     * @throws CompressException BAD_INPUT naming an entry that is neither a file nor a folder (see {@link #usable})
     */
    static List<Path> list(Path dir) {
        List<Path> entries = new ArrayList<>();
        try (Stream<Path> stream = Files.list(dir)) {
            stream.filter(p -> !name(p).startsWith(".")).map(DataFiles::usable).forEach(entries::add);
        } catch (IOException e) {
            throw readError(dir, e);
        }
        entries.sort(Comparator.comparing(DataFiles::name, UNICODE_ORDER));
        return entries;
    }

    /**
     * {@code entry} of a data folder, if it is a file or a folder (links followed). A dangling or looping link, a FIFO,
     * device or socket is refused, not skipped: a sample left out without a word changes the calibration.
     *
     * @throws CompressException BAD_INPUT naming {@code entry} and what it is
     */
    static Path usable(Path entry) {
        if (Files.isRegularFile(entry) || Files.isDirectory(entry)) {
            return entry;
        }
        if (Files.isSymbolicLink(entry)) {
            try {
                entry.toRealPath();
            } catch (NoSuchFileException e) {
                throw CompressException.badInput(entry, "is a link to " + target(entry)
                        + ", which does not exist; remove the link or restore its file", e);
            } catch (IOException e) {
                throw CompressException.badInput(entry, "is a link that never reaches a file (it loops: "
                        + oneLine(String.valueOf(e.getMessage())) + "); remove it", e);
            }
            return entry; // became usable since the first look
        }
        throw CompressException.badInput(entry, "is not a regular file (a FIFO, device or socket); remove it from the"
                + " data folder");
    }

    private static String target(Path link) {
        try {
            return String.valueOf(Files.readSymbolicLink(link));
        } catch (IOException e) {
            return "?";
        }
    }

    /**
     * A file's name in NFC: macOS file systems hand out decomposed (NFD) names, while labels files are typed in
     * composed form, so "é" or Korean names would not match without normalizing.
     */
    static String name(Path p) {
        Path name = p.getFileName();
        return name == null ? "" : Normalizer.normalize(name.toString(), Normalizer.Form.NFC);
    }

    /** Collapses line breaks and runs of spaces, since messages must stay on one line. */
    static String oneLine(String s) {
        return s.replaceAll("\\s+", " ").trim();
    }
}
