// Classifies images with the model of this bundle and prints the top-5 classes with their scores.
// Needs Java 17 and the ONNX Runtime jar only:
//
//   java -cp onnxruntime-1.29.0.jar example/Predict.java image.png [more images...]
//
// run from the unzipped bundle (or its example/ folder; --bundle DIR names another place, --ort runs model.ort).
// Images are turned into model input as compress did during calibration and evaluation: decoded with ImageIO,
// converted as PIL's convert("L") / convert("RGB") do, resized with java.awt's area averaging when the size differs,
// center-cropped, scaled, normalized with the manifest's mean and std, laid out NCHW or NHWC. CMYK JPEGs need an
// ImageIO CMYK plugin (compress uses TwelveMonkeys); plain ImageIO cannot read them.

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.awt.Image;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.imageio.ImageIO;

public final class Predict {
    public static void main(String[] args) throws Exception {
        // ONNX Runtime works on the calling thread too, and can overflow the main thread's default 1 MB stack (a
        // crash with exit code 139): run on a thread with a larger one
        Throwable[] failure = new Throwable[1];
        Thread worker = new Thread(null, () -> {
            try {
                predict(args);
            } catch (Throwable t) {
                failure[0] = t;
            }
        }, "predict", 64L << 20);
        worker.start();
        worker.join();
        if (failure[0] != null) {
            System.err.println("error: " + failure[0].getMessage());
            System.exit(1);
        }
    }

    static void predict(String[] args) throws Exception {
        Path bundle = null;
        boolean ort = false;
        List<Path> images = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--bundle" -> bundle = Path.of(args[++i]);
                case "--ort" -> ort = true;
                default -> images.add(Path.of(args[i]));
            }
        }
        if (images.isEmpty()) {
            System.err.println("usage: java -cp onnxruntime.jar Predict.java [--bundle DIR] [--ort] IMAGE...");
            System.exit(2);
        }
        if (bundle == null) {
            bundle = Files.isRegularFile(Path.of("manifest.json")) ? Path.of(".") : Path.of("..");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> manifest = (Map<String, Object>) new Json(
                Files.readString(bundle.resolve("manifest.json"), StandardCharsets.UTF_8)).value();
        Map<String, Object> pre = map(manifest.get("preprocessing"));
        Map<String, Object> model = map(manifest.get("model"));
        List<String> names = labels(bundle, manifest, "labels");
        List<String> chinese = labels(bundle, manifest, "labelsZh");
        Preprocess preprocess = new Preprocess(pre);

        OrtEnvironment env = OrtEnvironment.getEnvironment();
        Path file = bundle.resolve((String) model.get(ort ? "ortFile" : "file"));
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions();
                OrtSession session = env.createSession(file.toString(), options)) {
            for (Path image : images) {
                float[] input = preprocess.apply(image);
                try (OnnxTensor tensor = OnnxTensor.createTensor(env, FloatBuffer.wrap(input), preprocess.shape());
                        OrtSession.Result result = session.run(Map.of((String) pre.get("input"), tensor))) {
                    float[] scores = probabilities(((float[][]) result.get(0).getValue())[0]);
                    System.out.println(image);
                    for (int index : top(scores, 5)) {
                        String name = chinese != null && names != null ? chinese.get(index) + " (" + names.get(index)
                                + ")" : chinese != null ? chinese.get(index) : names != null ? names.get(index)
                                : "class " + index;
                        System.out.printf(Locale.ROOT, "  %d %.4f %s%n", index, scores[index], name);
                    }
                }
            }
        }
    }

    private static List<String> labels(Path bundle, Map<String, Object> manifest, String key) throws IOException {
        if (!(manifest.get(key) instanceof Map<?, ?> entry)) {
            return null;
        }
        List<String> names = new ArrayList<>();
        for (String line : Files.readAllLines(bundle.resolve((String) entry.get("file")), StandardCharsets.UTF_8)) {
            if (!line.isBlank()) {
                names.add(line.strip());
            }
        }
        return names;
    }

    /** Softmax, unless the scores already are probabilities. */
    static float[] probabilities(float[] scores) {
        double sum = 0;
        boolean probabilities = true;
        for (float s : scores) {
            probabilities &= s >= 0 && s <= 1;
            sum += s;
        }
        if (probabilities && Math.abs(sum - 1) < 1e-3) {
            return scores;
        }
        float max = Float.NEGATIVE_INFINITY;
        for (float s : scores) {
            max = Math.max(max, s);
        }
        double total = 0;
        double[] e = new double[scores.length];
        for (int i = 0; i < scores.length; i++) {
            e[i] = Math.exp(scores[i] - max);
            total += e[i];
        }
        float[] p = new float[scores.length];
        for (int i = 0; i < p.length; i++) {
            p[i] = (float) (e[i] / total);
        }
        return p;
    }

    /** Indices of the {@code k} highest scores, highest first; ties to the lower index, as argmax does. */
    static int[] top(float[] scores, int k) {
        int n = Math.min(k, scores.length);
        int[] best = new int[n];
        boolean[] taken = new boolean[scores.length];
        for (int r = 0; r < n; r++) {
            int arg = -1;
            for (int i = 0; i < scores.length; i++) {
                if (!taken[i] && (arg < 0 || scores[i] > scores[arg])) {
                    arg = i;
                }
            }
            taken[arg] = true;
            best[r] = arg;
        }
        return best;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object value) {
        return (Map<String, Object>) value;
    }

    /** The manifest's preprocessing, applied to one image. */
    static final class Preprocess {
        final int resizeH;
        final int resizeW;
        final int outH;
        final int outW;
        final int channels;
        final boolean scaled;
        final boolean nchw;
        final float[] mean;
        final float[] std;

        Preprocess(Map<String, Object> pre) {
            List<?> resize = (List<?>) pre.get("resize");
            List<?> crop = pre.get("crop") instanceof List<?> c ? c : resize;
            resizeH = ((Number) resize.get(0)).intValue();
            resizeW = ((Number) resize.get(1)).intValue();
            outH = ((Number) crop.get(0)).intValue();
            outW = ((Number) crop.get(1)).intValue();
            channels = ((Number) pre.get("channels")).intValue();
            scaled = "0-1".equals(pre.get("scale"));
            nchw = "NCHW".equals(pre.get("layout"));
            mean = perChannel((List<?>) pre.get("mean"));
            std = perChannel((List<?>) pre.get("std"));
        }

        private float[] perChannel(List<?> values) {
            float[] expanded = new float[channels];
            for (int c = 0; c < channels; c++) {
                expanded[c] = ((Number) values.get(values.size() == 1 ? 0 : c)).floatValue();
            }
            return expanded;
        }

        long[] shape() {
            return nchw ? new long[] {1, channels, outH, outW} : new long[] {1, outH, outW, channels};
        }

        float[] apply(Path file) throws IOException {
            BufferedImage image = ImageIO.read(file.toFile());
            if (image == null) {
                throw new IOException(file + ": not an image ImageIO can read");
            }
            boolean resized = image.getWidth() != resizeW || image.getHeight() != resizeH;
            if (!(channels == 1 && isComponentGray(image)) || resized) {
                image = toRgb(image);
            }
            if (resized) {
                Image scaledImage = image.getScaledInstance(resizeW, resizeH, Image.SCALE_SMOOTH);
                BufferedImage target = new BufferedImage(resizeW, resizeH, image.getType());
                target.createGraphics().drawImage(scaledImage, 0, 0, null);
                image = target;
            }
            if (outW != resizeW || outH != resizeH) {
                image = image.getSubimage((resizeW - outW) / 2, (resizeH - outH) / 2, outW, outH);
            }
            int pixels = outW * outH;
            float[] input = new float[pixels * channels];
            if (isComponentGray(image)) {
                int[] samples = image.getRaster().getSamples(0, 0, outW, outH, 0, (int[]) null);
                int max = (1 << image.getColorModel().getComponentSize(0)) - 1;
                for (int p = 0; p < pixels; p++) {
                    input[p] = normalize(samples[p], max, 0);
                }
                return input;
            }
            int[] rgb = image.getRGB(0, 0, outW, outH, null, 0, outW);
            for (int p = 0; p < pixels; p++) {
                for (int c = 0; c < channels; c++) {
                    int shift = channels == 1 ? 0 : 16 - 8 * c;
                    input[nchw ? c * pixels + p : p * channels + c] = normalize((rgb[p] >> shift) & 0xFF, 255, c);
                }
            }
            return input;
        }

        private float normalize(int sample, int max, int channel) {
            float value = scaled ? sample / (float) max : sample * 255f / max;
            return (value - mean[channel]) / std[channel];
        }

        private static boolean isComponentGray(BufferedImage image) {
            ColorModel model = image.getColorModel();
            return !(model instanceof IndexColorModel) && model.getColorSpace().getType() == ColorSpace.TYPE_GRAY;
        }

        /** 8-bit RGB as PIL's convert("RGB"); for a one-channel model R = G = B = PIL's convert("L") luma. */
        private BufferedImage toRgb(BufferedImage image) {
            int w = image.getWidth();
            int h = image.getHeight();
            int[] rgb;
            if (image.getColorModel() instanceof IndexColorModel) {
                rgb = image.getRGB(0, 0, w, h, null, 0, w);
            } else {
                Raster raster = image.getRaster();
                ColorModel model = image.getColorModel();
                int[][] bands = new int[isComponentGray(image) ? 1 : 3][];
                for (int b = 0; b < bands.length; b++) {
                    bands[b] = raster.getSamples(0, 0, w, h, b, (int[]) null);
                    int bits = model.getComponentSize(b);
                    for (int i = 0; i < bands[b].length; i++) {
                        int s = bands[b][i];
                        bands[b][i] = bits >= 8 ? s >> (bits - 8) : s * 255 / ((1 << bits) - 1);
                    }
                }
                rgb = new int[w * h];
                for (int i = 0; i < rgb.length; i++) {
                    rgb[i] = bands.length == 1 ? bands[0][i] * 0x010101
                            : bands[0][i] << 16 | bands[1][i] << 8 | bands[2][i];
                }
            }
            if (channels == 1 && !isComponentGray(image)) {
                for (int i = 0; i < rgb.length; i++) {
                    int p = rgb[i];
                    int luma = ((p >> 16 & 0xFF) * 19595 + (p >> 8 & 0xFF) * 38470 + (p & 0xFF) * 7471 + 0x8000) >> 16;
                    rgb[i] = luma * 0x010101;
                }
            }
            BufferedImage converted = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
            converted.setRGB(0, 0, w, h, rgb, 0, w);
            return converted;
        }
    }

    /** Just enough JSON for the manifest: objects, arrays, strings, numbers, true, false, null. */
    static final class Json {
        private final String text;
        private int at;

        Json(String text) {
            this.text = text;
        }

        Object value() {
            skip();
            char c = text.charAt(at);
            if (c == '{') {
                Map<String, Object> object = new LinkedHashMap<>();
                at++;
                skip();
                while (text.charAt(at) != '}') {
                    String key = (String) value();
                    skip();
                    at++; // ':'
                    object.put(key, value());
                    skip();
                    if (text.charAt(at) == ',') {
                        at++;
                        skip();
                    }
                }
                at++;
                return object;
            }
            if (c == '[') {
                List<Object> array = new ArrayList<>();
                at++;
                skip();
                while (text.charAt(at) != ']') {
                    array.add(value());
                    skip();
                    if (text.charAt(at) == ',') {
                        at++;
                        skip();
                    }
                }
                at++;
                return array;
            }
            if (c == '"') {
                StringBuilder s = new StringBuilder();
                for (at++; text.charAt(at) != '"'; at++) {
                    char ch = text.charAt(at);
                    if (ch == '\\') {
                        char e = text.charAt(++at);
                        switch (e) {
                            case 'n' -> s.append('\n');
                            case 't' -> s.append('\t');
                            case 'r' -> s.append('\r');
                            case 'b' -> s.append('\b');
                            case 'f' -> s.append('\f');
                            case 'u' -> {
                                s.append((char) Integer.parseInt(text.substring(at + 1, at + 5), 16));
                                at += 4;
                            }
                            default -> s.append(e);
                        }
                    } else {
                        s.append(ch);
                    }
                }
                at++;
                return s.toString();
            }
            int start = at;
            while (at < text.length() && ",}] \n\r\t".indexOf(text.charAt(at)) < 0) {
                at++;
            }
            String word = text.substring(start, at);
            return switch (word) {
                case "true" -> Boolean.TRUE;
                case "false" -> Boolean.FALSE;
                case "null" -> null;
                default -> Double.parseDouble(word);
            };
        }

        private void skip() {
            while (at < text.length() && Character.isWhitespace(text.charAt(at))) {
                at++;
            }
        }
    }
}
