using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using ArchNet.Compiler;
using ArchNet.Frontend;
using ArchNet.Frontend.Data;
using ArchNet.IR;
using ArchNet.Testing;
using Microsoft.ML.OnnxRuntime;

// For each model, in one process: ONNX Runtime session creation + N single-item inferences of the original model,
// then the compile (import, target, calibration data, canonicalize, audit, legalize, PTQ calibrated on the same N
// inputs, QDQ ONNX write) through Compilation. The pipeline always ends with measurements: fidelity (ORT vs the
// integer emulator on the evaluation data) and the cross-check (the QDQ artifact in ORT vs the emulator); they are not
// part of the compile measured here, so their stage times (and loading of the separate one-item evaluation set) are
// subtracted from the pipeline's wall time.
// Ratio = compile / ORT; the goal is <= 1.0.
var target = Arg("--target", "reference-cpu");
var items = int.Parse(Arg("--items", "32"), CultureInfo.InvariantCulture);
var sequence = int.Parse(Arg("--sequence", "128"), CultureInfo.InvariantCulture);
var names = Arg("--models", "resnet18,minilm").Split(',', StringSplitOptions.RemoveEmptyEntries);
var keep = args.Contains("--keep");
var root = Directory.CreateTempSubdirectory("archnet-compilebench-").FullName;

Console.WriteLine($"target {target}, W8A8 per-channel, MinMax, bias correction, --distill off; {items} inputs; " +
    $"{Environment.ProcessorCount} cores; ORT {typeof(InferenceSession).Assembly.GetName().Version} default session options (ORT_ENABLE_ALL, all cores)");
var rows = new List<string>();
foreach (var name in names)
{
    var (original, compileModel, spec, inputs, note) = Prepare(name);
    Console.WriteLine($"{name}: {note}");

    // ORT first: it also loads the native library, which the compile's calibration then finds loaded.
    var (ortCpu, ortPause) = (Cpu(), GC.GetTotalPauseDuration());
    var ortClock = Stopwatch.StartNew();
    using (var session = new InferenceSession(original))
    {
        var created = ortClock.Elapsed.TotalSeconds;
        foreach (var item in inputs) OrtRunner.Run(session, item);
        Console.WriteLine($"  ort: session {created:F3} s, {items} inferences {ortClock.Elapsed.TotalSeconds - created:F3} s");
    }
    var ortSeconds = ortClock.Elapsed.TotalSeconds;
    Console.WriteLine($"  ort: process cpu {Cpu() - ortCpu:F2} s, gc pauses {(GC.GetTotalPauseDuration() - ortPause).TotalSeconds:F3} s");

    var output = Path.Combine(root, name);
    var (compileCpu, compilePause) = (Cpu(), GC.GetTotalPauseDuration());
    var (jitCount, jitTime) = (JitInfo.GetCompiledMethodCount(), JitInfo.GetCompilationTime());
    var compileClock = Stopwatch.StartNew();
    var report = new Compilation(new CompileOptions(compileModel, target, output)
    {
        Calibration = spec,
        Evaluation = spec.Contains('?') ? spec.Replace("?", ":1?") : spec + ":1",
        WeightBits = 8,
        ActivationBits = 8,
        Backend = "onnx",
        Distill = DistillMode.Off,
        LayerFidelityItems = 0,
    }, SilentDiagnostics.Instance).Run();
    var wall = compileClock.Elapsed.TotalSeconds;
    // CPU and JIT of the whole pipeline, the fidelity measurement included (JIT time counts every thread's).
    Console.WriteLine($"  pipeline: process cpu {Cpu() - compileCpu:F2} s, gc pauses {(GC.GetTotalPauseDuration() - compilePause).TotalSeconds:F3} s, " +
        $"jitted {JitInfo.GetCompiledMethodCount() - jitCount} methods ({(JitInfo.GetCompilationTime() - jitTime).TotalSeconds:F2} s of JIT), fidelity included");
    var t = report.TimingsSeconds;
    string[] measurements = ["fidelity", "cross-check", "load evaluation data", "translate"];
    var excluded = measurements.Sum(m => t.GetValueOrDefault(m));
    var compileSeconds = wall - excluded;
    // Stages in pipeline order; "calibrate: ..." entries are parts of the calibrate stage (its ORT session, runs, statistics).
    var parts = t.Where(kv => kv.Key.StartsWith("calibrate: ", StringComparison.Ordinal)).ToList();
    var stages = string.Join(", ", t.Where(kv => !measurements.Contains(kv.Key) && !parts.Contains(kv))
        .OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} {kv.Value:F2}"));
    var calibrateParts = string.Join(", ", parts.Select(kv => $"{kv.Key["calibrate: ".Length..]} {kv.Value:F2}")
        .Append($"serializing the float graph and the rest {t.GetValueOrDefault("calibrate") - parts.Sum(kv => kv.Value):F2}"));
    var unstaged = compileSeconds - t.Where(kv => !measurements.Contains(kv.Key) && !parts.Contains(kv)).Sum(kv => kv.Value);
    Console.WriteLine($"  compile: {compileSeconds:F3} s = pipeline wall {wall:F3} s - fidelity and cross-check {excluded:F3} s");
    Console.WriteLine($"    stages: {stages}, outside stages {unstaged:F2}");
    Console.WriteLine($"    calibrate = {calibrateParts}; quantize (weights, biases, parameters) {t.GetValueOrDefault("quantize"):F2}");
    Console.WriteLine($"  compiled: {report.UnsupportedNodesAfter} unsupported after, host-float ops {report.HostFloatOps.Count}, " +
        $"{report.QuantizedWeights} weight layers, artifacts {string.Join(" ", report.Artifacts)}");
    rows.Add($"{name,-10} {compileSeconds,10:F2} {ortSeconds,10:F2} {compileSeconds / ortSeconds,8:F2}x");
}
Console.WriteLine($"{"model",-10} {"compile s",10} {"ORT s",10} {"ratio",9}");
foreach (var r in rows) Console.WriteLine(r);
if (keep) Console.WriteLine($"outputs kept in {root}");
else Directory.Delete(root, recursive: true);

static double Cpu() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

string Arg(string name, string fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

// The original model for ORT, the model the compile reads, the calibration SPEC, the same inputs item by item for ORT.
(string Original, string CompileModel, string Spec, List<Dictionary<string, TensorData>> Inputs, string Note) Prepare(string name)
{
    var path = TestData.Model(name);
    switch (name)
    {
        case "resnet18":
        {
            // Fashion-MNIST training images (pixel/255), nearest-upsampled 28 -> 224 and grey copied to 3 channels:
            // the only natural images on the machine.
            var grey = Idx.Read(TestData.FashionMnist.TrainImages, items).ToFloats();
            const int side = 224, src = 28;
            var rgb = new float[items * 3 * side * side];
            for (var n = 0; n < items; n++)
                for (var c = 0; c < 3; c++)
                    for (var y = 0; y < side; y++)
                        for (var x = 0; x < side; x++)
                            rgb[((n * 3 + c) * side + y) * side + x] = grey[(n * src + y * src / side) * src + x * src / side];
            var data = TensorData.FromFloats([items, 3, side, side], rgb);
            var npy = Path.Combine(root, "resnet18-calib.npy");
            Npy.Write(npy, data);
            return (path, path, $"npy:{npy}", Items(new() { ["Input247"] = data }),
                $"Fashion-MNIST train images 0..{items - 1} (idx), nearest 28->224, grey->3 channels, as npy");
        }
        case "minilm":
        {
            // Symbolic [batch, sequence] inputs: the compile and ORT read the same file; the compile binds the items' axis
            // to 1 and the sequence to the data's S (chips run static shapes), ORT runs the same [1, S] items. Token ids
            // are synthetic: [CLS] random word-piece ids [SEP], full attention mask, segment 0.
            var rng = new Random(5);
            var ids = new long[items * sequence];
            for (var n = 0; n < items; n++)
                for (var s = 0; s < sequence; s++)
                    ids[n * sequence + s] = s == 0 ? 101 : s == sequence - 1 ? 102 : rng.NextInt64(1000, 30522);
            var arrays = new Dictionary<string, TensorData>
            {
                ["input_ids"] = TensorData.FromInt64s([items, sequence], ids),
                ["attention_mask"] = TensorData.FromInt64s([items, sequence], [.. Enumerable.Repeat(1L, items * sequence)]),
                ["token_type_ids"] = TensorData.FromInt64s([items, sequence], new long[items * sequence]),
            };
            var npz = Path.Combine(root, "minilm-calib.npz");
            Npz.Write(npz, arrays);
            return (path, path, $"npz:{npz}", Items(arrays),
                $"synthetic token ids (random word pieces between [CLS] and [SEP]), sequence {sequence}, as npz");
        }
        default:
            throw new ArgumentException($"no inputs defined for model '{name}' (resnet18, minilm)");
    }
}

List<Dictionary<string, TensorData>> Items(Dictionary<string, TensorData> arrays) =>
    [.. Enumerable.Range(0, items).Select(n => arrays.ToDictionary(kv => kv.Key, kv => DataLoader.Slice(kv.Value, n, 1)))];
