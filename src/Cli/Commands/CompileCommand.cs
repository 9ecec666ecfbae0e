using System.CommandLine;
using ArchNet.Compiler;
using ArchNet.IR;
using ArchNet.Passes.Quantization;

namespace ArchNet.Cli.Commands;

/// <summary>
/// <c>archnetc MODEL --target T -o DIR [--calib SPEC] [--eval SPEC] [--eval-labels SPEC] [--wbits N] [--abits N]
/// [--backend NAME] [--allow-host-fallback]</c> (also <c>archnetc compile ...</c>): import, audit, legalize, quantize,
/// emit, and measure; the work is <see cref="Compilation"/>'s, this file only maps arguments and prints the summary.
/// </summary>
internal static class CompileCommand
{
    public static Command Create()
    {
        var command = new Command("compile", "Compile MODEL for a target: quantize it, write the backend's artifact, report.json and report.md.");
        Configure(command);
        return command;
    }

    /// <summary>Makes <paramref name="command"/> (the root, or the compile verb) take MODEL and the compile options.</summary>
    public static void Configure(Command command)
    {
        var model = new Argument<string>("MODEL") { Description = "The ONNX model to compile." };
        var target = new Option<string>("--target", "-t") { Description = "Target name(s): a, a,b (intersection) or a capability .json path.", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "Output folder (artifact, report.json, report.md).", Required = true };
        var calib = new Option<string?>("--calib") { Description = "Calibration data: " + Frontend.Data.DataSpec.Syntax };
        var eval = new Option<string?>("--eval") { Description = "Evaluation data SPEC (default: the calibration data)." };
        var labels = new Option<string?>("--eval-labels") { Description = "Labels of the evaluation data (idx:, npy: or npz: SPEC) for accuracy before and after." };
        var seq2seq = new Option<string?>("--seq2seq") { Description = "Score a translation model (src_ids, src_mask, tgt_ids -> logits) by greedy decoding of the --eval sources, BLEU before and after: " + ArchNet.Compiler.Translation.Seq2SeqOptions.Syntax };
        var wbits = new Option<int>("--wbits") { Description = "Weight bit width (2, 4, 8, ... as the target allows).", DefaultValueFactory = _ => 8 };
        var abits = new Option<int>("--abits") { Description = "Activation bit width (4, 8, 16 as the target allows).", DefaultValueFactory = _ => 8 };
        var backend = new Option<string>("--backend") { Description = "Backend writing the artifact (see 'archnetc backends').", DefaultValueFactory = _ => "onnx" };
        var fallback = new Option<bool>("--allow-host-fallback") { Description = "Keep nodes the target cannot run as float host ops (reported loudly) instead of failing." };
        var method = new Option<CalibrationMethod>("--calib-method") { Description = "Activation range: MinMax, Percentile, Mse or Entropy.", DefaultValueFactory = _ => CalibrationMethod.MinMax };
        var edges = new Option<LayerPrecision>("--edge-layers") { Description = "First and last weight layers: Same, or EightBit.", DefaultValueFactory = _ => LayerPrecision.Same };
        var attention = new Option<LayerPrecision>("--attention")
        {
            Description = "Attention (Softmax, the MatMuls between activations, their inputs and outputs): Same, or EightBit.",
            DefaultValueFactory = _ => LayerPrecision.Same,
        };
        var dims = ShapeOptions.DimOption("where the calibration data should not decide it (the items' axis is 1)");
        var noBias = new Option<bool>("--no-bias-correction") { Description = "Skip bias correction of quantized weights." };
        var noEqualize = new Option<bool>("--no-equalization") { Description = "Skip cross-layer equalization of convolution pairs before calibration." };
        var plugins = BackendsOptions.PluginDirOption();
        var distill = new Option<DistillMode>("--distill") { Description = "Auto: retrain replacements for nodes the target rejects; Always: also blockwise QAT; Off.", DefaultValueFactory = _ => DistillMode.Auto };
        var steps = new Option<int?>("--distill-steps") { Description = $"Distillation optimizer steps over all blocks (default: {CompileOptions.DefaultDistillSteps.Narrow} below 8 bits, else {CompileOptions.DefaultDistillSteps.Wide})." };
        var batch = new Option<int>("--distill-batch") { Description = "Distillation batch size.", DefaultValueFactory = _ => new CompileOptions("", "", "").DistillBatch };
        var drop = new Option<double>("--distill-drop")
        {
            Description = "QDrop: probability (0 to 1) that an activation element stays float in a distillation training step; 0 quantizes every element.",
            DefaultValueFactory = _ => new CompileOptions("", "", "").DistillDrop,
        };
        var seed = new Option<int>("--seed") { Description = "Seed of distillation (same seed, same result).", DefaultValueFactory = _ => 0 };
        var threads = new Option<int>("--threads")
        {
            Description = "Threads of distillation's training (results are bit-identical for the same count; on a busy machine 1 is often fastest).",
            DefaultValueFactory = _ => Environment.ProcessorCount,
        };
        var dumpAfter = new Option<string[]>("--dump-after")
        {
            Description = "Print the IR after the named stage ('all' for every stage: import, target, data, canonicalize, audit, legalize, distill, equalize, calibrate, quantize, fidelity, emit, cross-check, translate).",
            AllowMultipleArgumentsPerToken = true,
        };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print warnings, errors and the closing figures only: no info lines, no progress." };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Progress lines once a second instead of at each 10 % of a stage (logs)." };
        command.Arguments.Add(model);
        foreach (var o in new Option[] { target, output, calib, eval, labels, seq2seq, wbits, abits, backend, fallback, method, edges, attention, dims, noBias, noEqualize, plugins, distill, steps, batch, drop, seed, threads, quiet, verbose, dumpAfter })
            command.Options.Add(o);
        command.SetAction(parse =>
        {
            var options = new CompileOptions(parse.GetValue(model)!, parse.GetValue(target)!, parse.GetValue(output)!)
            {
                Calibration = parse.GetValue(calib),
                Evaluation = parse.GetValue(eval),
                EvaluationLabels = parse.GetValue(labels),
                Seq2Seq = parse.GetValue(seq2seq),
                WeightBits = parse.GetValue(wbits),
                ActivationBits = parse.GetValue(abits),
                Backend = parse.GetValue(backend)!,
                AllowHostFallback = parse.GetValue(fallback),
                Method = parse.GetValue(method),
                EdgeLayers = parse.GetValue(edges),
                Attention = parse.GetValue(attention),
                Dims = ShapeOptions.ParseDims(parse.GetValue(dims) ?? []),
                BiasCorrection = !parse.GetValue(noBias),
                Equalization = !parse.GetValue(noEqualize),
                PluginDirectories = parse.GetValue(plugins) ?? [],
                TargetsDirectory = TargetsCommand.Catalog().Directory,
                Distill = parse.GetValue(distill),
                DistillSteps = parse.GetValue(steps),
                DistillBatch = parse.GetValue(batch),
                DistillDrop = parse.GetValue(drop),
                Seed = parse.GetValue(seed),
                Threads = parse.GetValue(threads),
                DumpAfter = parse.GetValue(dumpAfter) ?? [],
            };
            if (parse.GetValue(quiet) && parse.GetValue(verbose))
                throw new ArchNetException("--quiet and --verbose contradict each other: give one", ExitCodes.BadInput);
            var verbosity = parse.GetValue(quiet) ? Verbosity.Quiet : parse.GetValue(verbose) ? Verbosity.Verbose : Verbosity.Normal;
            var report = new Compilation(options, new ConsoleDiagnostics(verbosity))
            {
                DumpAfter = (stage, text) => Console.Out.Write($"--- IR after {stage} ---\n{text}"),
            }.Run();
            var f = report.Fidelity;
            Console.Out.WriteLine($"compiled {report.Model} for {report.Target} (W{report.WeightBits}A{report.ActivationBits}, backend {report.Backend}) into {options.OutputDirectory}");
            if (report.Accuracy is { } a)
                Console.Out.WriteLine($"accuracy: original {100 * a.Original:F2} %, compiled {100 * a.Compiled:F2} % ({100 * (a.Compiled - a.Original):+0.00;-0.00} pt) on {a.Items} items");
            if (report.Translation is { } tr)
                Console.Out.WriteLine($"translation: BLEU original {tr.BleuOriginal:F2}, compiled {tr.BleuCompiled:F2} ({tr.BleuCompiled - tr.BleuOriginal:+0.00;-0.00}) on {tr.Sentences} sources; " +
                    $"exact match {100 * tr.ExactMatchOriginal:F1} % -> {100 * tr.ExactMatchCompiled:F1} %, token agreement {100 * tr.TokenAgreement:F2} %");
            Console.Out.WriteLine($"fidelity: top-1 agreement {(f.Top1Agreement is { } t ? $"{100 * t:F2} %" : "n/a")}, cosine {f.Cosine:F6}, SQNR {f.SqnrDb:F2} dB" +
                (report.LowConfidence ? "  [LOW CONFIDENCE: random inputs]" : ""));
            Console.Out.WriteLine($"cross-check: QDQ artifact in ONNX Runtime vs the golden model: {report.CrossCheck}");
            if (report.HostFallbackNodes.Count > 0)
                Console.Out.WriteLine($"HOST FALLBACK: {report.HostFallbackNodes.Count} node(s) run as float on the host (see report.md)");
            return ExitCodes.Ok;
        });
    }
}
