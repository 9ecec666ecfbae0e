using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Testing;

namespace ArchNet.Passes.Tests;

/// <summary>The real models of the acceptance criteria, with the static input shapes they are compiled at.</summary>
public static class RealModels
{
    public static readonly string[] Names = ["blazeface", "resnet18", "ppocrv4_det", "minilm", "fmnist_resnet", "fmnist_vit"];

    public static string PathOf(string name) =>
        TestData.TeacherNames.Contains(name) ? TestData.Teacher(name).Onnx : TestData.Model(name);

    /// <summary>Input shapes for symbolic dims: batch 1, OCR at 64x64 (a multiple of its stride 32), text at 16 tokens.</summary>
    public static Dictionary<string, long[]> Shapes(Model model, string name)
    {
        var result = new Dictionary<string, long[]>();
        foreach (var input in model.Graph.Inputs.Where(i => !i.IsConstant && i.Shape is not null))
        {
            var dims = input.Shape!.Dims.Select(d => d.Value ?? 1).ToArray();
            if (name == "ppocrv4_det" && dims.Length == 4) { dims[2] = input.Shape[2].Value ?? 64; dims[3] = input.Shape[3].Value ?? 64; }
            if (name == "minilm" && dims.Length == 2) dims[1] = input.Shape[1].Value ?? 16;
            result[input.Name] = dims;
        }
        return result;
    }

    public static Model Load(string name)
    {
        var model = OnnxImporter.Load(PathOf(name));
        InputShapes.Fix(model, Shapes(model, name));
        return model;
    }

    /// <summary>
    /// Inputs that make the models respond: images get dark bars on a light background plus noise (pure noise
    /// leaves the OCR detector's sigmoid output at 1e-7 everywhere, where cosine measures only rounding);
    /// token ids are random 0/1.
    /// </summary>
    public static Dictionary<string, TensorData> Inputs(Model model, int seed = 3)
    {
        var result = OrtRunner.RandomInputs(model.Graph, seed, -0.05f, 0.05f);
        foreach (var input in model.Graph.Inputs.Where(i => i.ElementType == ElementType.Float && i.Shape?.Rank == 4))
        {
            var dims = input.Shape!.ToArray()!;
            // NCHW or NHWC: the spatial axes are the two largest.
            var spatial = Enumerable.Range(1, 3).OrderByDescending(i => dims[i]).Take(2).Order().ToArray();
            var noise = result[input.Name].ToFloats();
            var data = new float[noise.Length];
            var index = new long[4];
            for (var n = 0; n < data.Length; n++)
            {
                long rem = n;
                for (var a = 3; a >= 0; a--) { index[a] = rem % dims[a]; rem /= dims[a]; }
                long y = index[spatial[0]], x = index[spatial[1]], h = dims[spatial[0]], w = dims[spatial[1]];
                var bar = y % 16 < 5 && x > w / 8 && x < w - w / 8;
                data[n] = (bar ? -1.5f : 1.5f) + noise[n];
            }
            result[input.Name] = TensorData.FromFloats(dims, data);
        }
        return result;
    }
}
