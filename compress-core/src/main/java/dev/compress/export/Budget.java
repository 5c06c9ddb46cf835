package dev.compress.export;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.CompressException;
import dev.compress.Json;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a target device allows: model file size, peak memory of an inference process, latency at a thread count. Any
 * limit may be absent. Given as {@code size=8MB,memory=600MB,latency=50ms@4threads} or as the name of a profile from
 * {@code budget-profiles.json} (this package) or from a file of the same form.
 *
 * <p>Sizes: B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024); latency: ms or s, with
 * {@code @Nthreads} (default 1 thread).
 *
 * @param name the profile's name, or the text it was parsed from
 * @param sizeBytes largest model file, or -1
 * @param memoryBytes largest peak resident memory of the inference process, or -1
 * @param latencyMillis largest median latency of one run at batch 1, or -1
 * @param threads ONNX Runtime intra-op threads the memory and latency are measured with
 */
public record Budget(String name, long sizeBytes, long memoryBytes, double latencyMillis, int threads) {
    private static final String PROFILES = "budget-profiles.json";
    private static final Pattern SIZE = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(B|KB|MB|GB|KiB|MiB|GiB)");
    private static final Pattern LATENCY = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(ms|s)(?:@(\\d+)threads?)?");

    /**
     * Parses a budget or finds a profile.
     *
     * @param profiles a JSON file of further profiles (same form as the built-in ones; its names win), or null
     * @throws CompressException INVALID_SETTINGS for a malformed budget or an unknown profile; BAD_INPUT naming
     *     {@code profiles} when it cannot be read
     */
    public static Budget parse(String text, Path profiles) {
        if (!text.contains("=")) {
            Map<String, JsonNode> known = profiles(profiles);
            JsonNode profile = known.get(text.strip());
            if (profile == null) {
                throw CompressException.invalidSettings("no budget profile '" + text + "'; known: "
                        + String.join(", ", known.keySet()));
            }
            return fromProfile(text.strip(), profile);
        }
        long size = -1;
        long memory = -1;
        double latency = -1;
        int threads = 1;
        for (String part : text.split(",")) {
            String[] keyValue = part.split("=", 2);
            String value = keyValue.length == 2 ? keyValue[1].strip() : "";
            switch (keyValue[0].strip()) {
                case "size" -> size = bytes(value, text);
                case "memory" -> memory = bytes(value, text);
                case "latency" -> {
                    Matcher m = LATENCY.matcher(value);
                    if (!m.matches()) {
                        throw malformed(text, "latency '" + value + "' is not e.g. 50ms or 50ms@4threads");
                    }
                    latency = Double.parseDouble(m.group(1)) * (m.group(2).equals("s") ? 1000 : 1);
                    threads = m.group(3) == null ? 1 : Integer.parseInt(m.group(3));
                }
                default -> throw malformed(text, "unknown limit '" + keyValue[0].strip()
                        + "' (size, memory, latency)");
            }
        }
        if (threads < 1) {
            throw malformed(text, "threads must be at least 1");
        }
        return new Budget(text, size, memory, latency, threads);
    }

    private static Budget fromProfile(String name, JsonNode profile) {
        String text = "profile " + name;
        long size = profile.has("size") ? bytes(profile.get("size").asText(), text) : -1;
        long memory = profile.has("memory") ? bytes(profile.get("memory").asText(), text) : -1;
        double latency = -1;
        if (profile.has("latency")) {
            Matcher m = LATENCY.matcher(profile.get("latency").asText());
            if (!m.matches() || m.group(3) != null) {
                throw malformed(text, "latency '" + profile.get("latency").asText() + "' is not e.g. 50ms");
            }
            latency = Double.parseDouble(m.group(1)) * (m.group(2).equals("s") ? 1000 : 1);
        }
        int threads = profile.path("threads").asInt(1);
        if (threads < 1) {
            throw malformed(text, "threads must be at least 1");
        }
        return new Budget(name, size, memory, latency, threads);
    }

    /** Every profile by name: the built-in ones, then those of {@code file}. */
    public static Map<String, JsonNode> profiles(Path file) {
        Map<String, JsonNode> profiles = new TreeMap<>();
        try (InputStream in = Budget.class.getResourceAsStream(PROFILES)) {
            add(profiles, Json.MAPPER.readTree(in));
        } catch (IOException e) {
            throw CompressException.internal("cannot read the built-in " + PROFILES + ": " + e.getMessage(), e);
        }
        if (file != null) {
            try {
                JsonNode extra = Json.MAPPER.readTree(file.toFile());
                if (extra == null || !extra.isObject()) {
                    throw CompressException.badInput(file, "not a JSON object of budget profiles");
                }
                add(profiles, extra);
            } catch (IOException e) {
                throw CompressException.badInput(file, "cannot read budget profiles ("
                        + e.getMessage().lines().findFirst().orElse("") + ")", e);
            }
        }
        return profiles;
    }

    private static void add(Map<String, JsonNode> profiles, JsonNode object) {
        for (Iterator<Map.Entry<String, JsonNode>> it = object.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> entry = it.next();
            profiles.put(entry.getKey(), entry.getValue());
        }
    }

    private static long bytes(String value, String text) {
        Matcher m = SIZE.matcher(value.strip());
        if (!m.matches()) {
            throw malformed(text, "size '" + value + "' is not e.g. 8MB or 600MiB");
        }
        double unit = switch (m.group(2)) {
            case "B" -> 1;
            case "KB" -> 1e3;
            case "MB" -> 1e6;
            case "GB" -> 1e9;
            case "KiB" -> 1024;
            case "MiB" -> 1024 * 1024;
            default -> 1024 * 1024 * 1024;
        };
        return Math.round(Double.parseDouble(m.group(1)) * unit);
    }

    private static CompressException malformed(String text, String problem) {
        return CompressException.invalidSettings("budget '" + text + "': " + problem);
    }

    /** {@code 8.0 MB}: bytes in the units budgets are written in. */
    static String describeBytes(long bytes) {
        return bytes >= 1e9 ? String.format(Locale.ROOT, "%.2f GB", bytes / 1e9)
                : bytes >= 1e6 ? String.format(Locale.ROOT, "%.1f MB", bytes / 1e6)
                : String.format(Locale.ROOT, "%.1f KB", bytes / 1e3);
    }
}
