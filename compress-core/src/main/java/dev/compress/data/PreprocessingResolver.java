package dev.compress.data;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectReader;
import dev.compress.CompressException;
import dev.compress.Json;
import dev.compress.data.Preprocessing.Layout;
import dev.compress.data.Preprocessing.Overrides;
import dev.compress.data.Preprocessing.Size;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/** Layers the sources of {@link Preprocessing#resolve}, remembering where each setting came from for errors. */
final class PreprocessingResolver {
    private static final List<String> KEYS = List.of("resize", "crop", "channels", "scale", "mean", "std", "layout");
    // reading only: a duplicated key in a hand-written file is a mistake to report, not to resolve silently
    private static final ObjectReader JSON =
            Json.MAPPER.reader().with(StreamReadFeature.STRICT_DUPLICATE_DETECTION);

    private PreprocessingResolver() {}

    /** A source of settings: the file to name in errors (if any) and where in it. */
    private record Origin(Path file, String where) {
        CompressException fail(String problem) {
            String message = where == null ? problem : where + ": " + problem;
            return file == null ? CompressException.badInput(message) : CompressException.badInput(file, message);
        }
    }

    /** The settings one source gives; {@code null} = not set there. */
    private record Layer(
            Origin origin,
            Size resize,
            Size crop,
            Integer channels,
            Boolean scaled,
            float[] mean,
            float[] std,
            Layout layout) {}

    private record Sourced<T>(T value, Origin origin) {}

    static Preprocessing resolve(
            Path model, String inputName, long[] shape, Map<String, String> metadata, Overrides overrides) {
        Origin modelOrigin = new Origin(model, null);
        String input = "input '" + inputName + "' " + Arrays.toString(shape);
        if (shape.length == 0) {
            // No recorded shape: every dimension is dynamic, so the other sources must say it all.
            shape = new long[] {-1, -1, -1, -1};
        }
        if (shape.length != 4) {
            throw modelOrigin.fail(input + " is not an image input: expected rank 4 (NCHW or NHWC)");
        }

        List<Layer> layers = new ArrayList<>();
        String metadataJson = metadata.get(Preprocessing.METADATA_KEY);
        if (metadataJson != null) {
            layers.add(parse(metadataJson, new Origin(model, "metadata " + Preprocessing.METADATA_KEY)));
        }
        if (overrides.preprocessFile != null) {
            Path file = overrides.preprocessFile;
            layers.add(parse(DataFiles.readText(file), new Origin(file, null)));
        }
        layers.add(new Layer(
                new Origin(null, null),
                overrides.resize,
                null,
                overrides.channels,
                null,
                overrides.mean,
                overrides.std,
                overrides.layout));

        Sourced<Layout> layoutSetting = pick(layers, Layer::layout);
        Layout layout = layoutSetting != null ? layoutSetting.value() : inferLayout(shape);
        if (layout == null) {
            throw modelOrigin.fail(input + ": cannot tell the layout (neither dimension 1 nor the last is 1 or 3); "
                    + "pass --layout and --channels");
        }
        boolean nchw = layout == Layout.NCHW;
        long shapeChannels = shape[nchw ? 1 : 3];
        long shapeHeight = shape[nchw ? 2 : 1];
        long shapeWidth = shape[nchw ? 3 : 2];

        Sourced<Integer> channelSetting = pick(layers, Layer::channels);
        int channels;
        if (channelSetting == null) {
            if (shapeChannels != 1 && shapeChannels != 3) {
                throw modelOrigin.fail(input + " has " + (shapeChannels > 0 ? shapeChannels : "dynamic")
                        + " channels in layout " + layout + "; pass --channels 1 or 3");
            }
            channels = (int) shapeChannels;
        } else {
            channels = channelSetting.value();
            if (shapeChannels > 0 && shapeChannels != channels) {
                throw channelSetting.origin().fail("channels is " + channels + " but " + input + " has "
                        + shapeChannels + " channels in layout " + layout);
            }
        }

        Sourced<Size> resizeSetting = pick(layers, Layer::resize);
        Sourced<Size> cropSetting = pick(layers, Layer::crop);
        boolean staticSize = shapeHeight > 0 && shapeWidth > 0;
        Size resize;
        if (resizeSetting != null) {
            resize = resizeSetting.value();
        } else if (staticSize) {
            resize = new Size((int) shapeHeight, (int) shapeWidth);
        } else if (cropSetting != null) {
            resize = cropSetting.value();
        } else {
            throw modelOrigin.fail("input '" + inputName + "' has dynamic height/width; pass --image-size HxW");
        }
        Size crop = cropSetting == null ? null : cropSetting.value();
        if (crop != null && (crop.height() > resize.height() || crop.width() > resize.width())) {
            throw cropSetting.origin().fail("crop " + crop + " is larger than the resize size " + resize);
        }
        Size out = crop != null ? crop : resize;
        if ((shapeHeight > 0 && shapeHeight != out.height()) || (shapeWidth > 0 && shapeWidth != out.width())) {
            Origin blame = crop != null ? cropSetting.origin() : resizeSetting.origin();
            throw blame.fail("preprocessing gives " + out + " images but " + input + " expects "
                    + (shapeHeight > 0 ? shapeHeight : "any") + "x" + (shapeWidth > 0 ? shapeWidth : "any"));
        }

        Preprocessing.Builder builder =
                Preprocessing.builder().setResize(resize.height(), resize.width()).setChannels(channels).setLayout(layout);
        if (crop != null) {
            builder.optCrop(crop.height(), crop.width());
        }
        Sourced<Boolean> scaled = pick(layers, Layer::scaled);
        if (scaled != null) {
            builder.optScaled(scaled.value());
        }
        Sourced<float[]> mean = pick(layers, Layer::mean);
        if (mean != null) {
            builder.optMean(perChannel(mean, "mean", channels));
        }
        Sourced<float[]> std = pick(layers, Layer::std);
        if (std != null) {
            builder.optStd(perChannel(std, "std", channels));
        }
        return builder.build();
    }

    /** NCHW if dimension 1 is 1 or 3, else NHWC if the last is, else unknown. */
    private static Layout inferLayout(long[] shape) {
        if (shape[1] == 1 || shape[1] == 3) {
            return Layout.NCHW;
        }
        if (shape[3] == 1 || shape[3] == 3) {
            return Layout.NHWC;
        }
        return null;
    }

    /** The value from the last source that sets it, or null. */
    private static <T> Sourced<T> pick(List<Layer> layers, Function<Layer, T> getter) {
        Sourced<T> found = null;
        for (Layer layer : layers) {
            T value = getter.apply(layer);
            if (value != null) {
                found = new Sourced<>(value, layer.origin());
            }
        }
        return found;
    }

    private static float[] perChannel(Sourced<float[]> setting, String name, int channels) {
        float[] values = setting.value();
        if (values.length != 1 && values.length != channels) {
            throw setting.origin().fail(name + " has " + values.length + " values but there are " + channels
                    + " channels; give 1 value or one per channel");
        }
        return values;
    }

    /** Reads the preprocessing JSON object; see {@link Preprocessing#resolve} for the keys. */
    private static Layer parse(String json, Origin origin) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            JsonLocation at = e.getLocation();
            String where = at == null ? "" : " at line " + at.getLineNr() + ", column " + at.getColumnNr();
            throw origin.fail("invalid JSON" + where + " (" + DataFiles.oneLine(e.getOriginalMessage()) + ")");
        }
        if (root == null || !root.isObject()) {
            throw origin.fail("expected a JSON object such as {\"channels\": 1, \"mean\": [0.5], \"std\": [0.5]}");
        }
        for (Iterator<String> names = root.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (!KEYS.contains(name)) {
                throw origin.fail("unknown key '" + name + "' (known keys: " + String.join(", ", KEYS) + ")");
            }
        }
        return new Layer(
                origin,
                size(root, "resize", origin),
                size(root, "crop", origin),
                channels(root, origin),
                scale(root, origin),
                floats(root, "mean", origin, false),
                floats(root, "std", origin, true),
                layout(root, origin));
    }

    private static Size size(JsonNode root, String key, Origin origin) {
        JsonNode node = root.get(key);
        if (node == null) {
            return null;
        }
        if (isPositiveInt(node)) {
            return new Size(node.intValue(), node.intValue());
        }
        if (node.isArray() && node.size() == 2 && isPositiveInt(node.get(0)) && isPositiveInt(node.get(1))) {
            return new Size(node.get(0).intValue(), node.get(1).intValue());
        }
        throw origin.fail(key + " must be [height, width] (integers 1.." + Preprocessing.MAX_SIZE + "), got " + node);
    }

    private static boolean isPositiveInt(JsonNode node) {
        return node.isIntegralNumber() && node.canConvertToInt() && node.intValue() > 0 && node.intValue() <= Preprocessing.MAX_SIZE;
    }

    private static Integer channels(JsonNode root, Origin origin) {
        JsonNode node = root.get("channels");
        if (node == null) {
            return null;
        }
        if (node.isIntegralNumber() && (node.intValue() == 1 || node.intValue() == 3) && node.canConvertToInt()) {
            return node.intValue();
        }
        throw origin.fail("channels must be 1 or 3, got " + node);
    }

    private static Boolean scale(JsonNode root, Origin origin) {
        JsonNode node = root.get("scale");
        if (node == null) {
            return null;
        }
        if (node.isTextual() && node.textValue().equals(Preprocessing.SCALE_0_1)) {
            return true;
        }
        if (node.isTextual() && node.textValue().equals(Preprocessing.SCALE_NONE)) {
            return false;
        }
        throw origin.fail("scale must be \"" + Preprocessing.SCALE_0_1 + "\" (pixel/255) or \""
                + Preprocessing.SCALE_NONE + "\" (raw pixels), got " + node);
    }

    private static float[] floats(JsonNode root, String key, Origin origin, boolean positive) {
        JsonNode node = root.get(key);
        if (node == null) {
            return null;
        }
        List<JsonNode> items = new ArrayList<>();
        if (node.isArray()) {
            node.forEach(items::add);
        } else {
            items.add(node);
        }
        float[] values = new float[items.size()];
        for (int i = 0; i < values.length; i++) {
            JsonNode item = items.get(i);
            values[i] = item.isNumber() ? item.floatValue() : Float.NaN;
            if (!Float.isFinite(values[i]) || (positive && !(values[i] > 0))) {
                values = new float[0];
                break;
            }
        }
        if (values.length == 0) {
            throw origin.fail(key + " must be a number or a non-empty array of "
                    + (positive ? "positive numbers" : "numbers") + ", got " + node);
        }
        return values;
    }

    private static Layout layout(JsonNode root, Origin origin) {
        JsonNode node = root.get("layout");
        if (node == null) {
            return null;
        }
        Layout layout = node.isTextual() ? Layout.find(node.textValue()) : null;
        if (layout == null) {
            throw origin.fail(Layout.unknown(node.asText()));
        }
        return layout;
    }
}
