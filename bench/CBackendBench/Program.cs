using System.Diagnostics;
using System.Globalization;
using ArchNet.Compiler;
using ArchNet.IR;
using ArchNet.Testing;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

// For each model: compile once with the c backend and once with the onnx backend (same options, so the same quantized
// graph), build the C with gcc -O3 -march=native (one thread by construction), and time it beside ONNX Runtime on the
// QDQ model (one intra-op thread, all graph optimizations). Ratio = ORT time / C time (> 1: the C is faster).
var target = Arg("--target", "arm-ethos-u55");
var items = int.Parse(Arg("--items", "32"), CultureInfo.InvariantCulture);
var repeat = int.Parse(Arg("--repeat", "20"), CultureInfo.InvariantCulture);
var mnist = TestData.FashionMnist;
var models = new (string Name, string Path, string Calib, long[] Shape)[]
{
    ("fmnist_resnet", TestData.Teacher("fmnist_resnet").Onnx, $"idx:{mnist.TrainImages}:32", [1, 1, 28, 28]),
    ("blazeface", TestData.Model("blazeface"), "random:32?seed=1&min=-1&max=1", [1, 128, 128, 3]),
};
var root = Directory.CreateTempSubdirectory("archnet-cbench-").FullName;
Console.WriteLine($"target {target}, W8A8, {items} inputs x {repeat} repeats; gcc -O3 -march=native -ffp-contract=off; ORT {typeof(InferenceSession).Assembly.GetName().Version} 1 thread ORT_ENABLE_ALL");
Console.WriteLine($"{"model",-14} {"C us/item",12} {"ORT us/item",12} {"ORT/C",8}");
foreach (var (name, path, calib, shape) in models)
{
    try
    {
        var cDir = Path.Combine(root, name + "-c");
        var qdqDir = Path.Combine(root, name + "-onnx");
        Compile(path, calib, cDir, "c");
        Compile(path, calib, qdqDir, "onnx");
        var exe = Path.Combine(cDir, "model_harness");
        Run("gcc", $"-std=c99 -O3 -march=native -ffp-contract=off -o {exe} model.c harness.c -lm", cDir);

        var rng = new Random(7);
        var size = (int)shape.Aggregate(1L, (a, d) => a * d);
        var batch = Enumerable.Range(0, items).Select(_ => Enumerable.Range(0, size).Select(_ => rng.NextSingle()).ToArray()).ToList();
        WriteNpy(Path.Combine(cDir, "bench.npy"), batch, size);
        Run(exe, $"bench.npy warm.npy", cDir);
        var line = Run(exe, $"bench.npy out.npy --repeat {repeat}", cDir);
        var cMicros = double.Parse(line.Split(' ')[0], CultureInfo.InvariantCulture);

        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL };
        using var session = new InferenceSession(Path.Combine(qdqDir, "model.qdq.onnx"), options);
        var inputName = session.InputMetadata.Keys.First();
        var tensors = batch.Select(b => new DenseTensor<float>(b, [.. shape.Select(d => (int)d)])).ToList();
        foreach (var t in tensors) using (session.Run([NamedOnnxValue.CreateFromTensor(inputName, t)])) { }
        var clock = Stopwatch.StartNew();
        for (var r = 0; r < repeat; r++)
            foreach (var t in tensors)
                using (session.Run([NamedOnnxValue.CreateFromTensor(inputName, t)])) { }
        var ortMicros = clock.Elapsed.TotalMicroseconds / (repeat * items);
        Console.WriteLine($"{name,-14} {cMicros,12:F1} {ortMicros,12:F1} {ortMicros / cMicros,8:F2}");
    }
    catch (ArchNetException e)
    {
        Console.WriteLine($"{name,-14} not compiled for {target}: {e.Message.Split('\n')[0]}");
    }
}
Directory.Delete(root, recursive: true);

string Arg(string name, string fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

void Compile(string model, string calib, string dir, string backend) =>
    new Compilation(new CompileOptions(model, target, dir)
    {
        Calibration = calib,
        WeightBits = 8,
        ActivationBits = 8,
        Backend = backend,
        LayerFidelityItems = 2,
    }, SilentDiagnostics.Instance).Run();

static string Run(string file, string arguments, string dir)
{
    var psi = new ProcessStartInfo(file, arguments) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
    using var p = Process.Start(psi)!;
    var stdout = p.StandardOutput.ReadToEndAsync();
    var stderr = p.StandardError.ReadToEnd();
    p.WaitForExit();
    if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {arguments}: exit {p.ExitCode}: {stderr}");
    return stdout.Result;
}

static void WriteNpy(string path, IReadOnlyList<float[]> rows, int size)
{
    var header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows.Count}, {size}), }}";
    header += new string(' ', (64 - (10 + header.Length + 1) % 64) % 64) + "\n";
    using var w = new BinaryWriter(File.Create(path));
    w.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
    w.Write((ushort)header.Length);
    w.Write(System.Text.Encoding.ASCII.GetBytes(header));
    foreach (var r in rows) foreach (var v in r) w.Write(v);
}
