using System.Diagnostics;
using System.Globalization;
using ArchNet.Frontend;
using Microsoft.ML.OnnxRuntime;

// Usage: dotnet run -c Release --project bench/ImportBench [MODEL]   (default: tests/data/cache/models/minilm.onnx)
// Each contender runs in a fresh child process, so that its peak working set is its own and not the other's.
// A child loads the model once cold (first use: JIT included) and then WarmRuns times, and reports:
// time cold, best warm time, peak working set above the working set just before loading, GC bytes allocated.
const int WarmRuns = 5;
var self = Environment.ProcessPath!;
var dll = typeof(Measurement).Assembly.Location;

if (args is ["--child", var childWhich, var childModel])
{
    Console.WriteLine(Measure(childWhich, childModel).ToLine());
    return 0;
}

var model = args.Length > 0 ? args[0] : Path.Combine(FindRepoRoot(), "tests", "data", "cache", "models", "minilm.onnx");
if (!File.Exists(model))
{
    Console.Error.WriteLine($"missing {model}: run tests/data/fetch.sh");
    return 2;
}
var fileBytes = new FileInfo(model).Length;
Console.WriteLine($"model {model} ({fileBytes / 1048576.0:F1} MiB), {Environment.ProcessorCount} cores, {RuntimeInformationText()}");
Console.WriteLine($"{"contender",-26} {"cold s",8} {"warm s",8} {"peak MiB",9} {"x file",7} {"alloc MiB",10}");
foreach (var which in new[] { "archnet-import", "ort-session" })
{
    var line = RunChild(which, model);
    var m = Measurement.Parse(line);
    Console.WriteLine($"{which,-26} {m.ColdSeconds,8:F3} {m.WarmSeconds,8:F3} {m.PeakBytes / 1048576.0,9:F1} {(double)m.PeakBytes / fileBytes,7:F2} {m.AllocatedBytes / 1048576.0,10:F1}");
}
Console.WriteLine("peak = peak working set minus the working set just before the first load; goal for archnet-import: warm < 0.5 s, peak <= 1.5 x file");
return 0;

string RunChild(string which, string path)
{
    var start = new ProcessStartInfo(self) { RedirectStandardOutput = true, UseShellExecute = false };
    // Under "dotnet ImportBench.dll" the process path is dotnet itself: pass the dll first.
    if (Path.GetFileNameWithoutExtension(self) == "dotnet") start.ArgumentList.Add(dll);
    foreach (var a in new[] { "--child", which, path }) start.ArgumentList.Add(a);
    using var child = Process.Start(start)!;
    var output = child.StandardOutput.ReadToEnd();
    child.WaitForExit();
    if (child.ExitCode != 0) throw new InvalidOperationException($"{which} failed with exit code {child.ExitCode}");
    return output.Trim().Split('\n')[^1];
}

static Measurement Measure(string which, string path)
{
    Action load = which switch
    {
        "archnet-import" => () => GC.KeepAlive(OnnxImporter.Load(path)),
        "ort-session" => () =>
        {
            using var options = new SessionOptions();
            using var session = new InferenceSession(path, options);
        },
        _ => throw new ArgumentException(which),
    };
    GC.Collect();
    GC.WaitForPendingFinalizers();
    GC.Collect();
    using var process = Process.GetCurrentProcess();
    process.Refresh();
    var before = process.WorkingSet64;
    var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
    var clock = Stopwatch.StartNew();
    load();
    var cold = clock.Elapsed.TotalSeconds;
    var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
    process.Refresh();
    var peak = process.PeakWorkingSet64 - before;
    var warm = double.MaxValue;
    for (var i = 0; i < WarmRuns; i++)
    {
        GC.Collect();
        clock.Restart();
        load();
        warm = Math.Min(warm, clock.Elapsed.TotalSeconds);
    }
    return new Measurement(cold, warm, peak, allocated);
}

static string RuntimeInformationText() => System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription;

static string FindRepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "Directory.Packages.props"))) return dir.FullName;
    return Environment.CurrentDirectory;
}

internal sealed record Measurement(double ColdSeconds, double WarmSeconds, long PeakBytes, long AllocatedBytes)
{
    public string ToLine() => string.Join(' ', ColdSeconds.ToString("R", CultureInfo.InvariantCulture),
        WarmSeconds.ToString("R", CultureInfo.InvariantCulture), PeakBytes, AllocatedBytes);

    public static Measurement Parse(string line)
    {
        var p = line.Split(' ');
        return new(double.Parse(p[0], CultureInfo.InvariantCulture), double.Parse(p[1], CultureInfo.InvariantCulture),
            long.Parse(p[2], CultureInfo.InvariantCulture), long.Parse(p[3], CultureInfo.InvariantCulture));
    }
}
