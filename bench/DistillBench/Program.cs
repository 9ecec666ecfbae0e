using System.Diagnostics;
using System.Globalization;
using ArchNet.Capabilities;
using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Passes;
using ArchNet.Passes.Canonicalization;
using ArchNet.Passes.Distillation;
using ArchNet.Passes.Distillation.Lowering;
using ArchNet.Passes.Legalization;
using ArchNet.Testing;
using TorchSharp;
using static TorchSharp.torch;

// One training step of distillation (teacher forward without gradients, student forward with fake quantization,
// backward, AdamW update) on the whole fmnist_resnet student for archnet at W4A4, the last and largest period.
// FLOPs come from the IR's MAC counts: 2 per MAC forward, and the usual 2x forward for the backward pass, so a
// step is batch x (2 MACs_teacher + 6 MACs_student). Peak = threads x clock x FLOPs per cycle (AVX2 + FMA: two
// 8-wide fp32 FMA pipes = 32; AVX-512: 64), and, as a practical ceiling, torch's own 1024^3 GEMM rate.
var threads = int.Parse(Arg("--threads", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
var batch = int.Parse(Arg("--batch", "32"), CultureInfo.InvariantCulture);
var steps = int.Parse(Arg("--steps", "20"), CultureInfo.InvariantCulture);
var (ghz, flopsPerCycle) = CpuPeak();
if (Arg("--ghz", "") is { Length: > 0 } g) ghz = double.Parse(g, CultureInfo.InvariantCulture);
TorchRuntime.UseThreads(threads);

var capability = new TargetCatalog(Path.Combine(TestData.RepoRoot, "targets")).Load("archnet");
var teacher = Prepare(OnnxImporter.Load(TestData.Teacher("fmnist_resnet").Onnx));
var student = Prepare(OnnxImporter.Load(TestData.Teacher("fmnist_resnet").Onnx));
new Legalizer(new CapabilityOracle(capability)).Run(student, new PassContext(SilentDiagnostics.Instance));
var replaced = ReplacementCatalog.BuildStudent(student, capability, n => n.Metadata.Any(kv => kv.Key == Legalizer.RetrainKey));
ShapeInference.Run(student.Graph);
var macsTeacher = Macs(teacher);
var macsStudent = Macs(student);
var flopsPerStep = batch * (2.0 * macsTeacher + 6.0 * macsStudent);

using var teacherModule = new GraphModule(teacher);
teacherModule.eval();
using var studentModule = new GraphModule(student);
var plan = new QuantizationPlan(4, 4, PerChannelWeights: true, SignedActivations: false);
using var fq = new FakeQuantizers(student.Graph, plan);
studentModule.Transform = fq.Apply;
studentModule.ReluTransform = fq.ApplyRelu;
var parameters = studentModule.parameters().Concat(fq.Steps).ToList();
using var optimizer = optim.AdamW(parameters, lr: 1e-4);
using var x = rand(batch, 1, 28, 28, generator: new Generator().manual_seed(1));

void Step()
{
    using var scope = NewDisposeScope();
    Tensor[] t;
    using (no_grad()) t = teacherModule.forward([x]);
    var s = studentModule.forward([x]);
    var loss = (s[0] - t[0]).pow(2).mean();
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
}

for (var i = 0; i < 3; i++) Step();
var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
var clock = Stopwatch.StartNew();
var cpuSteps = new List<double>();
for (var i = 0; i < steps; i++)
{
    var before = Process.GetCurrentProcess().TotalProcessorTime;
    Step();
    cpuSteps.Add((Process.GetCurrentProcess().TotalProcessorTime - before).TotalSeconds);
}
var perStep = clock.Elapsed.TotalSeconds / steps;
// CPU seconds as well as wall seconds: on a shared machine the process gets less than its threads' cores, and
// FLOPs per CPU-second against one core's peak is the efficiency the kernels reach when they do run. Other processes
// still slow a step down through the shared caches and memory, in bursts: the median step shows the kernels' own rate.
var cpuPerStep = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds / steps;
var cpuMedian = cpuSteps.Order().ElementAt(cpuSteps.Count / 2);
var achieved = flopsPerStep / perStep;
var peak = threads * ghz * 1e9 * flopsPerCycle;
var corePeak = ghz * 1e9 * flopsPerCycle;
var gemm = GemmRate();

Console.WriteLine($"fmnist_resnet student for archnet (W4A4 fake quantization, {replaced.Count} replacement(s)), batch {batch}, {threads} thread(s), {steps} steps");
Console.WriteLine($"MACs per item (from the IR): teacher {macsTeacher:N0}, student {macsStudent:N0}; FLOPs per step {flopsPerStep / 1e9:F3} G " +
    "= batch x (2 x teacher MACs, forward only + 6 x student MACs, forward and backward at 2x forward)");
Console.WriteLine($"time per step {perStep * 1e3:F1} ms -> {achieved / 1e9:F2} GFLOP/s");
Console.WriteLine($"peak {peak / 1e9:F1} GFLOP/s ({threads} x {ghz:F2} GHz x {flopsPerCycle} FLOP/cycle): share {100 * achieved / peak:F1} % (wall)");
Console.WriteLine($"CPU time per step {cpuPerStep * 1e3:F1} ms -> {flopsPerStep / cpuPerStep / 1e9:F2} GFLOP per CPU-second: {100 * flopsPerStep / cpuPerStep / corePeak:F1} % of one core's peak");
Console.WriteLine($"median step {cpuMedian * 1e3:F1} CPU-ms -> {flopsPerStep / cpuMedian / 1e9:F2} GFLOP per CPU-second: {100 * flopsPerStep / cpuMedian / corePeak:F1} % of one core's peak " +
    $"(fastest {cpuSteps.Min() * 1e3:F1}, slowest {cpuSteps.Max() * 1e3:F1})");
if (Array.IndexOf(args, "--breakdown") >= 0) Breakdown();
Console.WriteLine($"torch GEMM 1024^3: {gemm / 1e9:F1} GFLOP/s ({100 * gemm / peak:F1} % of peak); the step reaches {100 * achieved / gemm:F1} % of it");
return 0;

// CPU milliseconds per step of each phase (one torch thread: CPU time is compute time even on a loaded machine).
void Breakdown()
{
    double Cpu(Action a)
    {
        for (var i = 0; i < 2; i++) a();
        var before = Process.GetCurrentProcess().TotalProcessorTime;
        for (var i = 0; i < steps; i++) a();
        return (Process.GetCurrentProcess().TotalProcessorTime - before).TotalMilliseconds / steps;
    }
    var teacherMs = Cpu(() => { using var s = NewDisposeScope(); using var g = no_grad(); teacherModule.forward([x]); });
    var studentFwd = Cpu(() => { using var s = NewDisposeScope(); studentModule.forward([x]); });
    var studentFwdNoGrad = Cpu(() => { using var s = NewDisposeScope(); using var g = no_grad(); studentModule.forward([x]); });
    fq.Enabled = false;
    var floatFwd = Cpu(() => { using var s = NewDisposeScope(); studentModule.forward([x]); });
    var floatStep = Cpu(Step);
    fq.Enabled = true;
    var full = Cpu(Step);
    Console.WriteLine($"breakdown, CPU ms per step: full step {full:F1}; teacher forward {teacherMs:F1}; student forward {studentFwd:F1} " +
        $"(no grad {studentFwdNoGrad:F1}, float {floatFwd:F1}); float step (no fake quantization) {floatStep:F1}");
    var counts = student.Graph.Nodes.GroupBy(n => n.OpType).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} {g.Count()}");
    Console.WriteLine($"student nodes: {string.Join(", ", counts)}; fake-quantized weights {fq.Steps.Count}");
}

static Model Prepare(Model model)
{
    ShapeInference.Run(model.Graph);
    foreach (var input in model.Graph.Inputs.Where(i => !i.IsConstant))
        if (input.TensorType is { Shape: { IsStatic: false } s } t)
            input.Type = t with { Shape = new Shape(s.Dims.Select(d => d.IsKnown ? d : Dim.Of(1))) };
    ShapeInference.Run(model.Graph);
    Canonicalize.Run(model, new PassContext(SilentDiagnostics.Instance));
    ShapeInference.Run(model.Graph);
    return model;
}

static long Macs(Model model) => model.Graph.Nodes.Sum(n => OpRegistry.Macs(n) ?? 0);

double GemmRate()
{
    using var scope = NewDisposeScope();
    var a = rand(1024, 1024);
    var b = rand(1024, 1024);
    for (var i = 0; i < 2; i++) a.mm(b);
    var c = Stopwatch.StartNew();
    const int reps = 10;
    for (var i = 0; i < reps; i++) a.mm(b);
    return reps * 2.0 * 1024 * 1024 * 1024 / c.Elapsed.TotalSeconds;
}

static (double Ghz, int FlopsPerCycle) CpuPeak()
{
    var text = File.Exists("/proc/cpuinfo") ? File.ReadAllText("/proc/cpuinfo") : "";
    var mhz = text.Split('\n').Where(l => l.StartsWith("cpu MHz", StringComparison.Ordinal))
        .Select(l => double.Parse(l.Split(':')[1], CultureInfo.InvariantCulture)).DefaultIfEmpty(2000).Max();
    var flags = text.Split('\n').FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal)) ?? "";
    var perCycle = flags.Contains(" avx512f", StringComparison.Ordinal) ? 64 : flags.Contains(" fma", StringComparison.Ordinal) ? 32 : 8;
    return (mhz / 1000, perCycle);
}

static string Arg(string name, string fallback)
{
    var args = Environment.GetCommandLineArgs();
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}
