package dev.compress.recipe;

import dev.compress.Progress;
import dev.compress.calibrate.CalibrationBuilder;
import dev.compress.calibrate.CalibrationMethod;
import dev.compress.calibrate.CalibrationSettings;
import dev.compress.calibrate.CalibrationTable;
import dev.compress.convert.OpsetConversion;
import dev.compress.data.Dataset;
import dev.compress.graph.OnnxModel;
import dev.compress.pipeline.ModelPass;
import dev.compress.pipeline.Passes;
import dev.compress.prune.PruneMasks;
import dev.compress.prune.PruneResult;
import dev.compress.prune.Pruner;
import dev.compress.quantize.ActivationType;
import dev.compress.quantize.DynamicFormat;
import dev.compress.quantize.QuantizationResult;
import dev.compress.quantize.Quantizer;
import dev.compress.score.ScoreReport;
import dev.compress.score.Scorer;
import java.nio.file.Path;
import java.util.Map;

/**
 * The one implementation of each recipe step (and of the score check): {@code compress run} runs its steps here,
 * and the single commands ({@code compress quantize}, {@code prune}, {@code run --pass}, {@code score}) build the step
 * {@code --print-recipe} prints (the check, for score) and run it here too. A step's settings become the pass's options in this class and nowhere else; the extras are what only
 * the command line has (docs/recipes.md says which flags have no recipe form), at their defaults for a recipe.
 */
public final class RecipeSteps {
    private RecipeSteps() {}

    /**
     * Static quantization settings of {@code compress quantize} that recipes do not have.
     *
     * @param table activation statistics to take instead of calibration data ({@code --table})
     * @param reusableTable whether to keep every statistic so the table can be saved ({@code --save-table})
     * @param movingAverage {@code --moving-average}, 0 = off
     * @param perTensor {@code --tensor-method}
     * @param sessions calibration sessions ({@code --threads})
     * @param encoderDefaults false for {@code --no-encoder-defaults}
     */
    public record QuantizeExtras(CalibrationTable table, boolean reusableTable, double movingAverage,
            Map<String, CalibrationMethod> perTensor, int sessions, boolean encoderDefaults) {
        /** What a recipe step gets. */
        public static QuantizeExtras none() {
            return new QuantizeExtras(null, false, 0, Map.of(), CalibrationBuilder.defaultSessions(), true);
        }
    }

    /**
     * Pruning settings of {@code compress prune} that recipes do not have.
     *
     * @param masks a mask file's masks to re-apply instead of choosing weights ({@code --apply-masks}), or null
     * @param masksFile the file they came from, for messages
     * @param layerSparsity {@code --layer-sparsity}
     */
    public record PruneExtras(PruneMasks masks, Path masksFile, Map<String, Double> layerSparsity) {
        /** What a recipe step gets. */
        public static PruneExtras none() {
            return new PruneExtras(null, null, Map.of());
        }
    }

    /**
     * Runs a {@link Recipe.QuantizeStatic} or {@link Recipe.QuantizeDynamic} step on {@code model}. Unset (null)
     * settings take the quantizer's defaults, as a recipe's {@link Recipe#withDefaults()} writes them.
     *
     * @param calibration the calibration samples; null with a table; for dynamic quantization, what its latency
     *     fallback times on (if it has one), else ignored
     */
    public static QuantizationResult quantize(Recipe.Step step, OnnxModel model, Dataset calibration, int batchSize,
            Progress progress, QuantizeExtras extras) {
        Quantizer.Builder builder = Quantizer.builder()
                .optBatchSize(batchSize)
                .optProgress(progress);
        if (step.withDefaults() instanceof Recipe.QuantizeDynamic q) {
            builder.optDynamic(DynamicFormat.parse(q.format()))
                    .optReduceRange(q.reduceRange())
                    .optPrepare(q.prepare())
                    .optExclude(q.exclude())
                    .optOpTypes(q.ops())
                    .optLatencyFallback(q.latencyFallback());
            if (q.latencyFallback() > 0) {
                builder.optTimingData(calibration);
            }
        } else {
            Recipe.QuantizeStatic q = (Recipe.QuantizeStatic) step.withDefaults();
            Recipe.QuantizeStatic given = (Recipe.QuantizeStatic) step;
            builder.optCalibration(new CalibrationSettings(CalibrationMethod.parse(q.method()), q.percentile(),
                            q.bins(), extras.movingAverage(), extras.perTensor()))
                    .optTable(extras.table())
                    .optReusableTable(extras.reusableTable())
                    .optSymmetricActivations(q.symmetric())
                    .optSampling(new CalibrationBuilder.Sampling(q.maxSamples(), q.histogramSamples(),
                            extras.sessions(), 1))
                    .optActivationType(ActivationType.parse(q.activations()))
                    .optExclude(q.exclude())
                    .optOpTypes(q.ops())
                    .optWeightOnly(q.weightOnly())
                    .optUpgradeOpset(q.upgradeOpset())
                    .optKeepOpset(q.keepOpset())
                    .optLatencyFallback(q.latencyFallback())
                    .optPrepare(q.prepare())
                    .optEncoderDefaults(extras.encoderDefaults())
                    .setCalibrationData(calibration);
            // left unset, the quantizer decides: bias correction only where there is calibration data
            if (given.equalize() != null) {
                builder.optEqualize(given.equalize());
            }
            if (given.biasCorrection() != null) {
                builder.optBiasCorrection(given.biasCorrection());
            }
        }
        return builder.setModel(model).build().quantize();
    }

    /**
     * Runs a {@link Recipe.Prune} step on {@code model}; a null sparsity is only for re-applied masks.
     *
     * @param calibration samples for structured pruning's channel means, else null
     */
    public static PruneResult prune(Recipe.Prune given, OnnxModel model, Dataset calibration, int batchSize,
            Progress progress, PruneExtras extras) {
        Recipe.Prune step = (Recipe.Prune) given.withDefaults();
        Pruner.Builder builder = Pruner.builder()
                .optScope("global".equals(step.scope()) ? Pruner.Scope.GLOBAL : Pruner.Scope.PER_LAYER)
                .optStructured(step.structured())
                .optExclude(step.exclude())
                .optLayerSparsity(extras.layerSparsity())
                .optBatchSize(batchSize)
                .optProgress(progress);
        if (step.sparsity() != null) {
            builder.setSparsity(step.sparsity());
        }
        if (extras.masks() != null) {
            builder.optMasks(extras.masks(), extras.masksFile());
        }
        if (calibration != null) {
            builder.optCalibrationData(calibration);
        }
        return builder.setModel(model).build().prune();
    }

    /** The pass of a step that needs no data: {@link Recipe.Prepare} or {@link Recipe.ConvertOpset}. */
    public static ModelPass<?> pass(Recipe.Step step) {
        if (step.withDefaults() instanceof Recipe.ConvertOpset convert) {
            return OpsetConversion.builder().optTargetOpset(convert.opset()).build();
        }
        if (step instanceof Recipe.Prepare) {
            return Passes.find("prepare");
        }
        throw new IllegalArgumentException("step " + step.name() + " needs data: run it with quantize or prune");
    }

    /**
     * Runs a {@link Recipe.Score} check: {@code student} against {@code teacher} (each ONNX or TorchScript) on
     * {@code data}.
     *
     * @param parityTolerance the relative max difference of a faithful export, for the report's parity verdict
     */
    public static ScoreReport score(Recipe.Score check, Path teacher, Path student, Dataset data, int batchSize,
            Progress progress, double parityTolerance) {
        Recipe.Score full = (Recipe.Score) check.withDefaults(new Recipe.Data(null, null, null, null));
        return Scorer.builder()
                .setTeacher(teacher)
                .setStudent(student)
                .setData(data)
                .optTemperatures(full.temperatures().stream().mapToDouble(Double::doubleValue).toArray())
                .optOutputs("embedding".equals(full.outputs()) ? Scorer.Outputs.EMBEDDING : Scorer.Outputs.LOGITS)
                .optParityTolerance(parityTolerance)
                .optBatchSize(batchSize)
                .optProgress(progress)
                .build()
                .score();
    }
}
