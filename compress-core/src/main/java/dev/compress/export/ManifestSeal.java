package dev.compress.export;

import java.nio.charset.StandardCharsets;

/**
 * The manifest's hash of itself: {@code "manifestSha256"} holds the SHA-256 of the manifest's text with that value
 * written as 64 zeros. The manifest lists the hash of every other file, so with it a changed byte anywhere in the
 * bundle is found, the manifest included.
 */
public final class ManifestSeal {
    /** The manifest key holding the seal. */
    public static final String KEY = "manifestSha256";
    /** The value the seal is computed with. */
    public static final String PLACEHOLDER = "0".repeat(64);

    private ManifestSeal() {}

    /** {@code json}, holding {@link #PLACEHOLDER} as the value of {@link #KEY}, with the placeholder replaced. */
    public static String seal(String json) {
        return json.replace(quoted(PLACEHOLDER), quoted(hash(json)));
    }

    /** Whether {@code json} holds {@code seal} as its seal and the seal is right. */
    static boolean holds(String json, String seal) {
        return seal.length() == PLACEHOLDER.length() && json.contains(quoted(seal))
                && hash(json.replace(quoted(seal), quoted(PLACEHOLDER))).equals(seal);
    }

    private static String hash(String json) {
        return BundleExporter.sha256(json.getBytes(StandardCharsets.UTF_8));
    }

    private static String quoted(String value) {
        return "\"" + value + "\"";
    }
}
