using System.Diagnostics;
using System.Text;
using ArchNet.Frontend.Onnx;
using ArchNet.IR;
using ArchNet.Testing;
using Google.Protobuf;
using Xunit.Abstractions;

namespace ArchNet.Frontend.Tests;

/// <summary>ONNX's own backend conformance data (libonnx-testdata): every model imports, and every model
/// whose original passes in ONNX Runtime also passes after conversion (import, verify, export).</summary>
public sealed class ConformanceTests(ITestOutputHelper output)
{
    // ONNX's backend test runner tolerances.
    private const double Rtol = 1e-3;
    private const double Atol = 1e-7;

    private static List<string> Models() =>
        Directory.EnumerateFiles(TestData.OnnxConformanceDir, "model.onnx", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal).ToList();

    [Fact]
    public void EveryConformanceModel_ParsesAndWritesBackToTheSameBytes()
    {
        var models = Models();
        Assert.True(models.Count > 1000, $"expected over 1000 conformance models, found {models.Count}");
        var differing = new List<string>();
        foreach (var path in models)
        {
            var bytes = File.ReadAllBytes(path);
            var again = ModelProto.Parser.ParseFrom(bytes).ToByteArray();
            if (!again.AsSpan().SequenceEqual(bytes)) differing.Add(Rel(path));
        }
        Assert.True(differing.Count == 0, $"{differing.Count} models do not round-trip byte for byte: {string.Join(", ", differing.Take(10))}");
    }

    [Fact]
    public void EveryConformanceModel_Imports_AndConversionLosesNoPassingModel()
    {
        var models = Models();
        var clock = Stopwatch.StartNew();
        int imported = 0, rejected = 0, notRunnable = 0, originalFails = 0, originalPasses = 0, convertedPasses = 0;
        var unhandled = new List<string>();
        var rejections = new List<string>();
        var regressions = new List<string>();
        var failures = new List<string>();
        foreach (var path in models)
        {
            var name = Rel(path);
            Model model;
            try
            {
                model = OnnxImporter.Load(path);
                imported++;
            }
            catch (ArchNetException e)
            {
                rejected++;
                rejections.Add($"{name}: {e.Message}");
                continue;
            }
            catch (Exception e)
            {
                unhandled.Add($"{name}: {e.GetType().Name}: {e.Message}");
                continue;
            }

            List<DataSet> sets;
            try
            {
                sets = DataSets(path);
            }
            catch (NotRunnableException)
            {
                notRunnable++;
                continue;
            }

            var original = File.ReadAllBytes(path);
            string? why;
            try
            {
                why = RunAll(original, path, sets);
            }
            catch (NotRunnableException)
            {
                notRunnable++;
                continue;
            }
            catch (Exception e) when (e is Microsoft.ML.OnnxRuntime.OnnxRuntimeException or ArchNetException or InvalidOperationException or ArgumentException)
            {
                why = e.Message;
            }
            if (why is not null)
            {
                originalFails++;
                failures.Add($"{name}: {OneLine(why)}");
                continue;
            }
            originalPasses++;

            try
            {
                Verifier.Verify(model, "import");
                var converted = OnnxExporter.ToBytes(model);
                why = RunAll(converted, path, sets);
            }
            catch (Exception e)
            {
                why = $"{e.GetType().Name}: {e.Message}";
            }
            if (why is null) convertedPasses++;
            else regressions.Add($"{name}: {OneLine(why)}");
        }

        var report = new StringBuilder();
        report.AppendLine($"libonnx-testdata conformance ({clock.Elapsed.TotalSeconds:F0} s)");
        report.AppendLine($"total {models.Count}, imported {imported}, rejected with a message {rejected}, unhandled {unhandled.Count}");
        report.AppendLine($"not runnable by the harness (map/optional values) {notRunnable}, original fails in ORT {originalFails}");
        report.AppendLine($"original passes {originalPasses}, converted passes {convertedPasses}, regressions {regressions.Count}");
        foreach (var r in regressions) report.AppendLine("  regression " + r);
        foreach (var r in rejections) report.AppendLine("  rejected " + r);
        foreach (var u in unhandled) report.AppendLine("  unhandled " + u);
        foreach (var f in failures) report.AppendLine("  original fails " + f);
        output.WriteLine(report.ToString());
        var artifacts = Path.Combine(TestData.RepoRoot, "artifacts");
        Directory.CreateDirectory(artifacts);
        File.WriteAllText(Path.Combine(artifacts, "frontend-conformance.txt"), report.ToString());

        Assert.True(unhandled.Count == 0, "unhandled exceptions on import:\n" + string.Join("\n", unhandled));
        Assert.True(regressions.Count == 0, "models that pass in ORT but not after conversion:\n" + string.Join("\n", regressions));
        // Exact counts for the pinned libonnx-testdata (Debian's onnx package) and ONNX Runtime: a change in either,
        // or a harness that silently skips models, moves a figure and must be looked at, not absorbed by a floor.
        Assert.Equal((1072, 1072, 8, 88), (models.Count, imported, notRunnable, originalFails));
        Assert.Equal(976, originalPasses);
        Assert.Equal(976, convertedPasses);
    }

    private sealed record DataSet(List<string> InputNames, List<RunValue> Inputs, List<string> OutputNames, List<RunValue> Outputs);

    private static string? RunAll(byte[] model, string path, List<DataSet> sets)
    {
        using var options = OrtHarness.Options();
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(model, options);
        foreach (var set in sets)
        {
            var actual = OrtHarness.Run(session, set.InputNames, set.Inputs, set.OutputNames);
            for (var i = 0; i < set.Outputs.Count; i++)
                if (OrtHarness.Compare(set.Outputs[i], actual[i], Rtol, Atol) is { } why)
                    return $"output '{set.OutputNames[i]}': {why}";
        }
        return null;
    }

    /// <summary>The reference inputs and outputs beside a model, read according to the model's declared types.</summary>
    private static List<DataSet> DataSets(string modelPath)
    {
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(modelPath));
        var initializers = proto.Graph.Initializer.Select(t => t.Name).Concat(proto.Graph.SparseInitializer.Select(s => s.Values.Name)).ToHashSet();
        var inputs = proto.Graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        var outputs = proto.Graph.Output.ToList();
        var sets = new List<DataSet>();
        foreach (var dir in Directory.EnumerateDirectories(Path.GetDirectoryName(modelPath)!, "test_data_set_*").Order(StringComparer.Ordinal))
        {
            var inFiles = Numbered(dir, "input_");
            var outFiles = Numbered(dir, "output_");
            if (inFiles.Count > inputs.Count || outFiles.Count != outputs.Count) throw new NotRunnableException("data files do not match the graph");
            sets.Add(new DataSet(
                inputs.Take(inFiles.Count).Select(i => i.Name).ToList(),
                inFiles.Select((f, i) => ReadValue(f, inputs[i].Type)).ToList(),
                outputs.Select(o => o.Name).ToList(),
                outFiles.Select((f, i) => ReadValue(f, outputs[i].Type)).ToList()));
        }
        if (sets.Count == 0) throw new NotRunnableException("no data sets");
        return sets;
    }

    private static List<string> Numbered(string dir, string prefix) =>
        Directory.EnumerateFiles(dir, prefix + "*.pb")
            .OrderBy(f => int.Parse(Path.GetFileNameWithoutExtension(f)[prefix.Length..], System.Globalization.CultureInfo.InvariantCulture))
            .ToList();

    private static RunValue ReadValue(string file, TypeProto? type)
    {
        var bytes = File.ReadAllBytes(file);
        switch (type?.ValueCase)
        {
            case TypeProto.ValueOneofCase.TensorType:
                var tensor = TensorProto.Parser.ParseFrom(bytes);
                // ONNX 1.12 stored bfloat16 reference data as uint16 tensors holding the same bits.
                if (type.TensorType.ElemType == (int)TensorProto.Types.DataType.Bfloat16 && tensor.DataType == (int)TensorProto.Types.DataType.Uint16)
                    tensor.DataType = (int)TensorProto.Types.DataType.Bfloat16;
                return new TensorValue(OnnxTensors.ToTensorData(tensor, Path.GetFileName(file)));
            case TypeProto.ValueOneofCase.SequenceType:
                var seq = SequenceProto.Parser.ParseFrom(bytes);
                if (seq.ElemType != (int)SequenceProto.Types.DataType.Tensor && seq.TensorValues.Count == 0 && seq.ElemType != 0)
                    throw new NotRunnableException("sequence of non-tensors");
                if (seq.SequenceValues.Count > 0 || seq.MapValues.Count > 0 || seq.OptionalValues.Count > 0 || seq.SparseTensorValues.Count > 0)
                    throw new NotRunnableException("sequence of non-tensors");
                if (seq.TensorValues.Count == 0)
                    throw new NotRunnableException("ONNX Runtime's C# API cannot build an empty sequence");
                return new SequenceValue(seq.TensorValues.Select(t => OnnxTensors.ToTensorData(t, Path.GetFileName(file))).ToList());
            default:
                throw new NotRunnableException($"{type?.ValueCase} values");
        }
    }

    private static string Rel(string path) => Path.GetRelativePath(TestData.OnnxConformanceDir, Path.GetDirectoryName(path)!);

    private static string OneLine(string s) => s.ReplaceLineEndings(" ");
}
