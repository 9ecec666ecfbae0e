using System.Diagnostics;
using ArchNet.Backends.Abstractions;
using ArchNet.Backends.Plugins;
using ArchNet.Capabilities;
using ArchNet.Frontend.Data;
using ArchNet.IR;
using ArchNet.Passes.Distillation;
using ArchNet.Passes.Legalization;
using ArchNet.Passes.Quantization;
using Google.Protobuf;
using ModelProto = ArchNet.Frontend.Onnx.ModelProto;

namespace ArchNet.Compiler.Stages;

/// <summary>
/// What the compile's stages hand each other, in the order they fill it in. Each stage reads what earlier ones left
/// and sets its own part; the model itself is the one the pass manager carries from stage to stage.
/// </summary>
public sealed class CompileState(CompileOptions options, IDiagnostics diagnostics) : IDisposable
{
    public CompileOptions Options { get; } = options;
    public IDiagnostics Diagnostics { get; } = diagnostics;

    /// <summary>Seconds per stage (and per part of a stage), for the report.</summary>
    public Dictionary<string, double> Timings { get; } = [];

    // import
    /// <summary>The model file, read once: the student, the teacher and ONNX Runtime's reference come from it.</summary>
    public byte[] ModelBytes { get; set; } = [];
    public SortedDictionary<string, int> OpsBefore { get; set; } = new(StringComparer.Ordinal);

    // target
    public Capability Capability { get; set; } = null!;
    /// <summary>The one bit-width policy of the compile: the chip's formats at the user's widths, and which parts of the
    /// model (edge layers, attention) are wider. The quantizer reads it, and distillation trains at it.</summary>
    public QuantizationPolicy Policy { get; set; } = null!;
    public BackendCatalog Backends { get; set; } = null!;
    public IBackend Backend { get; set; } = null!;

    // data
    public DataSpec CalibrationSpec { get; set; } = null!;
    public Dataset Calibration { get; set; } = null!;
    public Dataset Evaluation { get; set; } = null!;
    public long[]? Labels { get; set; }
    /// <summary>How to score a translation model (null: it is not scored as one).</summary>
    public Translation.Seq2SeqOptions? Seq2Seq { get; set; }
    /// <summary>Items per emulator run: the model's static batch size, else 32.</summary>
    public int Batch { get; set; }

    // audit, legalize
    public List<UnsupportedNode> UnsupportedBefore { get; set; } = [];
    public LegalizationReport? Legalization { get; set; }
    /// <summary>Float Conv/Gemm biases marked int32 for the audits before quantization (<see cref="AuditStage"/>).</summary>
    public List<Value> ProvisionalBiases { get; set; } = [];

    // distill, equalize
    public DistillationReport? Distilled { get; set; }
    public IReadOnlyList<EqualizedPair> Equalized { get; set; } = [];

    // calibrate
    /// <summary>The quantizer's options in this compile: the policy's, less what a trained student already has.</summary>
    public QuantizationOptions QuantizerOptions { get; set; } = null!;
    /// <summary>The float graph as calibrated: serialized once, for the calibration session and fidelity's per-layer reference.</summary>
    public ModelProto FloatGraph { get; set; } = null!;
    public Dictionary<Value, TensorStatistics> Statistics { get; set; } = null!;

    // quantize
    public QuantizationSummary Summary { get; set; } = null!;
    public SignednessCounts Signedness { get; set; } = null!;
    public List<AccumulatorRisk> AccumulatorRisks { get; set; } = [];
    public List<UnsupportedNode> UnsupportedAfter { get; set; } = [];

    // fidelity, cross-check, emit
    public FidelityResult Fidelity { get; set; } = null!;
    /// <summary>Where evaluation binds items to batch 1 (null: stacked or batched).</summary>
    public string? ItemByItem { get; set; }
    public IReadOnlyDictionary<string, double> OutputOffsets { get; set; } = new Dictionary<string, double>();
    public CrossCheckFigures CrossCheck { get; set; } = null!;
    public IReadOnlyList<Artifact> Artifacts { get; set; } = [];
    public Translation.TranslationFigures? Translation { get; set; }

    public void AddTiming(string name, double seconds) =>
        Timings[name] = Math.Round(Timings.GetValueOrDefault(name) + seconds, 3);

    /// <summary>Runs <paramref name="work"/> as a timed part of a stage, announced in an info line.</summary>
    public T Time<T>(string name, Func<T> work)
    {
        Diagnostics.Info($"{name}...");
        var clock = Stopwatch.StartNew();
        var result = work();
        AddTiming(name, clock.Elapsed.TotalSeconds);
        return result;
    }

    public void Dispose() => Backends?.Dispose();
}

/// <summary>A node the target rejects, and why.</summary>
public sealed record UnsupportedNode(string Node, string OpType, string Reason)
{
    public static List<UnsupportedNode> In(Model model, Capability capability) =>
        [.. model.Graph.Nodes.Where(n => !(n.OpType == "Constant" && n.IsDefaultDomain))
            .Select(n => (Node: n, Check: capability.Check(n)))
            .Where(p => !p.Check.IsSupported)
            .Select(p => new UnsupportedNode(p.Node.DisplayName, p.Node.OpType, string.Join("; ", p.Check.Violations)))];
}
