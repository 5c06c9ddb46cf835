package dev.compress.cli;

import dev.compress.export.BundleVerifier;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code compress verify}: checks an edge bundle written by {@code compress export}. */
@Command(
        name = "verify",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = {
            "Check a bundle written by compress export: every file's SHA-256 against the manifest, both model copies"
                    + " load and give equal outputs on the same inputs, labels and preprocessing agree with the model."
                    + " Any mismatch is exit 3 naming the file.",
            ""
        },
        footer = {"", "Example:", "  compress verify resnet-int8.zip --images data/heldout"})
final class VerifyCommand extends BaseCommand {
    @Parameters(index = "0", paramLabel = "BUNDLE.zip", description = "The bundle.")
    Path bundle;

    @Option(names = "--images", paramLabel = "DIR",
            description = "Images to run through both model copies (the first 16). Default: fixed pseudo-random"
                    + " inputs.")
    Path images;

    @Override
    public Integer call() {
        BundleVerifier.Result result = BundleVerifier.verify(bundle, images);
        global.out().println("OK: " + bundle + ": " + result.files() + " files match the manifest; model.onnx and"
                + " model.ort agree on " + result.samples() + " samples (" + result.samplesFrom() + "); "
                + result.classes() + " classes, labels consistent");
        global.out().flush();
        return ExitCode.OK;
    }
}
