using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Passes;
using ArchNet.Passes.Quantization;

namespace ArchNet.Compiler.Stages;

/// <summary>
/// The float graph as it is now (canonical, legal, trained), serialized once: ONNX Runtime runs it over the calibration
/// data for the statistics the quantizer asks for (<see cref="OrtStatistics"/>: much faster than the emulator's float
/// mode on large models, and the same values), and the fidelity stage runs it again as the per-layer float reference.
/// </summary>
public sealed class CalibrateStage(CompileState state) : Stage(state)
{
    public override string Name => "calibrate";

    protected override int Execute(Model model)
    {
        var options = State.QuantizerOptions = State.Policy.Options with
        {
            // Trained weights already sit on their quantization grid: moving the biases would undo training. A trained
            // student has learned its outputs' offsets already.
            BiasCorrection = State.Policy.Options.BiasCorrection && State.Distilled is null,
            OffsetNegativeOutputs = State.Distilled is null,
            SaturationTrained = State.Distilled is not null,
        };
        State.FloatGraph = OnnxExporter.ToProto(model);
        var request = Quantizer.Request(model.Graph, options);
        Diagnostics.Info($"calibrating {request.Values.Count} activations ({options.Method}{(request.Histograms ? ", two passes" : "")})");
        State.Statistics = OrtStatistics.Collect(State, model, State.FloatGraph, State.Calibration, request);
        return 0;
    }
}
