using ArchNet.Passes.Quantization;

namespace ArchNet.Compiler;

/// <summary>Everything one compile needs; the CLI fills it from its arguments, tests and bench/ directly.</summary>
public sealed record CompileOptions(string ModelPath, string Target, string OutputDirectory)
{
    /// <summary>Calibration data SPEC (see ArchNet.Frontend.Data.DataSpec).</summary>
    public string? Calibration { get; init; }
    /// <summary>Evaluation data SPEC; the calibration data is used when absent.</summary>
    public string? Evaluation { get; init; }
    /// <summary>Labels of the evaluation data (idx/npy/npz), for accuracy before and after.</summary>
    public string? EvaluationLabels { get; init; }
    /// <summary>Translation scoring of a teacher-forcing model (Translation.Seq2SeqOptions.Syntax): BLEU before and after.</summary>
    public string? Seq2Seq { get; init; }
    /// <summary>Sizes of symbolic input dimensions by symbol ("*": every other one); what stays symbolic takes the
    /// calibration data's size (the items' axis: 1).</summary>
    public IReadOnlyDictionary<string, long> Dims { get; init; } = new Dictionary<string, long>();
    public int WeightBits { get; init; } = 8;
    public int ActivationBits { get; init; } = 8;
    public string Backend { get; init; } = "onnx";
    public bool AllowHostFallback { get; init; }
    public CalibrationMethod Method { get; init; } = CalibrationMethod.MinMax;
    public LayerPrecision EdgeLayers { get; init; } = LayerPrecision.Same;
    /// <summary>Attention's activations (Softmax and the MatMuls between activations) at 8 bits, or the same as the rest.</summary>
    public LayerPrecision Attention { get; init; } = LayerPrecision.Same;
    public bool BiasCorrection { get; init; } = true;
    /// <summary>Cross-layer equalization of convolution pairs before calibration (not after distillation).</summary>
    public bool Equalization { get; init; } = true;
    /// <summary>Per-layer fidelity is measured on this many evaluation items (it runs the float and integer graphs
    /// keeping every intermediate, which costs memory and time).</summary>
    public int LayerFidelityItems { get; init; } = 64;
    public IReadOnlyList<string> PluginDirectories { get; init; } = [];
    /// <summary>When to run distillation (retraining replacements for unsupported nodes; blockwise QAT).</summary>
    public DistillMode Distill { get; init; } = DistillMode.Auto;
    /// <summary>Distillation optimizer steps over all blocks (null: by the bit widths, DistillationOptions.DefaultSteps);
    /// batch size; seed (same seed, same result).</summary>
    public int? DistillSteps { get; init; }
    /// <summary>Distillation's steps when <see cref="DistillSteps"/> is not given: below 8 bits, and at 8 bits or more.</summary>
    public static (int Narrow, int Wide) DefaultDistillSteps =>
        (ArchNet.Passes.Distillation.DistillationOptions.NarrowDefaultSteps, ArchNet.Passes.Distillation.DistillationOptions.WideDefaultSteps);
    public int DistillBatch { get; init; } = new ArchNet.Passes.Distillation.DistillationOptions().BatchSize;
    public int Seed { get; init; }
    /// <summary>QDrop: probability that an activation element stays float in a training step (0: every element quantized).</summary>
    public double DistillDrop { get; init; } = new ArchNet.Passes.Distillation.DistillationOptions().ActivationDrop;
    /// <summary>Torch threads for distillation (same count, same bytes out); null: leave torch's setting.</summary>
    public int? Threads { get; init; }
    /// <summary>Folder of capability files; null: targets/ beside the executable, else the repo's.</summary>
    public string? TargetsDirectory { get; init; }
    /// <summary>Stage names after which the IR is handed to <see cref="Compilation.DumpAfter"/> ("all": after every stage).</summary>
    public IReadOnlyList<string> DumpAfter { get; init; } = [];
}

/// <summary>Auto: distill when the target rejects nodes. Always: also train a model the target runs (blockwise QAT). Off: never.</summary>
public enum DistillMode { Auto, Always, Off }
