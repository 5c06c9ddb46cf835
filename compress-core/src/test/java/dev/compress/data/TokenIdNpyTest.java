package dev.compress.data;

import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.data.HostTensor.ElementType;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.ValueInfo;
import dev.compress.quantize.QuantizationResult;
import dev.compress.quantize.Quantizer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Token ids as int64 .npy arrays (one folder per input) calibrate a real transformer, all-MiniLM-L6-v2. */
class TokenIdNpyTest {
    @TempDir
    Path dir;

    @Test
    void int64NpyTokenIdsCalibrateMiniLm() throws IOException {
        Path model = dir.resolve("minilm.onnx");
        try (InputStream in = getClass().getClassLoader().getResourceAsStream("all-minilm-l6-v2.onnx")) {
            assertThat(in).isNotNull();
            Files.copy(in, model);
        }
        // three sequences of BERT uncased WordPiece ids between [CLS] (101) and [SEP] (102), padded with 0 to 8
        long[] ids = {
            101, 1996, 6105, 2003, 2489, 1012, 102, 0,
            101, 2017, 2089, 6100, 1996, 3642, 1012, 102,
            101, 2053, 10943, 2100, 1012, 102, 0, 0,
        };
        long[] mask = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            mask[i] = ids[i] == 0 ? 0 : 1;
        }
        Path data = dir.resolve("calib");
        long[] shape = {3, 8};
        NpyWriter.longs(Files.createDirectories(data.resolve("input_ids")).resolve("a.npy"), shape, ids);
        NpyWriter.longs(Files.createDirectories(data.resolve("attention_mask")).resolve("a.npy"), shape, mask);
        NpyWriter.longs(Files.createDirectories(data.resolve("token_type_ids")).resolve("a.npy"), shape,
                new long[ids.length]);

        OnnxModel fp32 = OnnxModel.load(model);
        Map<String, long[]> shapes = new LinkedHashMap<>();
        Map<String, ElementType> types = new LinkedHashMap<>();
        for (ValueInfo input : fp32.graph().inputs()) {
            shapes.put(input.name(), ModelInputs.shape(input));
            types.put(input.name(), ElementType.INT64);
        }
        NpyDataset calibration = NpyDataset.builder().setRoot(data).setInputs(shapes).optInputTypes(types).build();
        assertThat(calibration.size()).isEqualTo(3);
        QuantizationResult result = Quantizer.builder().setModel(fp32).setCalibrationData(calibration)
                .optOpTypes(List.of("MatMul")).build().quantize();
        assertThat(result.report().calibrationSamples()).isEqualTo(3);
        assertThat(result.report().quantizedOps()).containsEntry("MatMul", 48);
    }
}
