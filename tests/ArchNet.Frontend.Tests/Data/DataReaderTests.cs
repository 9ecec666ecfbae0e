using System.IO.Compression;
using ArchNet.Frontend.Data;
using ArchNet.IR;
using ArchNet.Testing;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace ArchNet.Frontend.Tests.Data;

public sealed class DataReaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("archnet-data-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static InputSignature Image(string name = "x", long c = 1, long h = 28, long w = 28) =>
        new(name, ElementType.Float, [null, c, h, w]);

    [Fact]
    public void Npy_RoundTrips_Float32AndInt64()
    {
        var path = Path.Combine(_dir, "a.npy");
        var data = TensorData.FromFloats([2, 3], [1, 2, 3, 4, 5, 6.5f]);
        Npy.Write(path, data);
        var back = Npy.Read(path);
        Assert.Equal(data.Dims.ToArray(), back.Dims.ToArray());
        Assert.Equal(data.ToFloats(), back.ToFloats());
        Npy.Write(path, TensorData.FromInt64s([3], [7, -1, 9]));
        Assert.Equal([7L, -1, 9], Npy.Read(path).ToInt64s());
    }

    [Fact]
    public void Npy_ReadsTheCommittedTeacherLogits()
    {
        var logits = Npy.Read(TestData.Teacher("fmnist_cnn").TestLogits);
        Assert.Equal([10000L, 10], logits.Dims.ToArray());
        Assert.Equal(ElementType.Float, logits.ElementType);
    }

    [Fact]
    public void Npy_FortranOrder_IsRejectedWithTheReason()
    {
        var path = Path.Combine(_dir, "f.npy");
        using (var s = File.Create(path))
        {
            var header = "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }".PadRight(117) + "\n";
            s.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
            s.Write(BitConverter.GetBytes((ushort)header.Length));
            s.Write(System.Text.Encoding.ASCII.GetBytes(header));
            s.Write(new byte[4]);
        }
        var e = Assert.Throws<ArchNetException>(() => Npy.Read(path));
        Assert.Contains("Fortran", e.Message);
    }

    [Fact]
    public void Npz_ArraysAreNamedAfterTheirMembers_AndMatchedToInputs()
    {
        var path = Path.Combine(_dir, "d.npz");
        Npz.Write(path, new Dictionary<string, TensorData>
        {
            ["a"] = TensorData.FromFloats([2, 2], [1, 2, 3, 4]),
            ["b"] = TensorData.FromFloats([2, 3], [1, 2, 3, 4, 5, 6]),
        });
        var ds = DataLoader.Load(DataSpec.Parse($"npz:{path}"),
            [new("b", ElementType.Float, [null, 3]), new("a", ElementType.Float, [null, 2])]);
        Assert.Equal(2, ds.Count);
        Assert.Equal([1f, 2, 3, 4, 5, 6], ds.Arrays["b"].ToFloats());
        var e = Assert.Throws<ArchNetException>(() => DataLoader.Load(DataSpec.Parse($"npz:{path}"),
            [new("c", ElementType.Float, [null, 2]), new("a", ElementType.Float, [null, 2])]));
        Assert.Contains("no array named 'c'", e.Message);
    }

    [Fact]
    public void Idx_FashionMnist_ImagesArePixelOver255_LabelsInt64()
    {
        var f = TestData.FashionMnist;
        var images = Idx.Read(f.TrainImages, 256);
        Assert.Equal([256L, 1, 28, 28], images.Dims.ToArray());
        var px = images.ToFloats();
        Assert.InRange(px.Min(), 0f, 0f);
        Assert.InRange(px.Max(), 1f, 1f);
        var labels = Idx.Read(f.TestLabels);
        Assert.Equal([10000L], labels.Dims.ToArray());
        Assert.Equal(ElementType.Int64, labels.ElementType);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), labels.ToInt64s().Distinct().Order());
    }

    [Fact]
    public void Idx_Uncompressed_EqualsGzipped()
    {
        var gz = TestData.FashionMnist.TestImages;
        var raw = Path.Combine(_dir, "t10k-images-idx3-ubyte");
        using (var src = new GZipStream(File.OpenRead(gz), CompressionMode.Decompress))
        using (var dst = File.Create(raw)) src.CopyTo(dst);
        Assert.Equal(Idx.Read(gz, 10).ToFloats(), Idx.Read(raw, 10).ToFloats());
    }

    [Fact]
    public void Images_AreResizedScaledAndNormalised_InFileNameOrder()
    {
        var dir = Path.Combine(_dir, "imgs");
        Directory.CreateDirectory(dir);
        using (var red = new Image<Rgb24>(8, 4, new Rgb24(255, 0, 0))) red.SaveAsPng(Path.Combine(dir, "b.png"));
        using (var gray = new Image<Rgb24>(3, 3, new Rgb24(51, 51, 51))) gray.SaveAsPng(Path.Combine(dir, "a.png"));
        var ds = DataLoader.Load(DataSpec.Parse($"images:{dir}?mean=0.5,0.5,0.5&std=0.5,0.5,0.5"), [Image(c: 3, h: 2, w: 2)]);
        Assert.Equal([2L, 3, 2, 2], ds.Arrays["x"].Dims.ToArray());
        var v = ds.Arrays["x"].ToFloats();
        Assert.Equal((0.2f - 0.5f) / 0.5f, v[0], 4);          // a.png first: gray 51/255 = 0.2
        Assert.Equal(1f, v[12], 4);                              // b.png red channel: (1 - 0.5) / 0.5
        Assert.Equal(-1f, v[16], 4);                             // b.png green channel
    }

    [Theory]
    [InlineData("idx:/data/train-images-idx3-ubyte.gz:256", DataKind.Idx, "/data/train-images-idx3-ubyte.gz", 256)]
    [InlineData("npy:calib.npy", DataKind.Npy, "calib.npy", null)]
    [InlineData("npz:C:/x/y.npz:10", DataKind.Npz, "C:/x/y.npz", 10)]
    [InlineData("images:photos/?size=224x224&mean=0.485,0.456,0.406", DataKind.Images, "photos/", null)]
    [InlineData("random:32", DataKind.Random, "", 32)]
    public void DataSpec_Parses(string text, DataKind kind, string path, int? count)
    {
        var spec = DataSpec.Parse(text);
        Assert.Equal(kind, spec.Kind);
        Assert.Equal(path, spec.Path);
        Assert.Equal(count, spec.Count);
        Assert.Equal(kind == DataKind.Random, spec.IsLowConfidence);
    }

    [Theory]
    [InlineData("calib.npy", "no KIND")]
    [InlineData("csv:a.csv", "unknown kind")]
    [InlineData("random:0", "positive count")]
    [InlineData("npy:a.npy:0", "COUNT must be positive")]
    [InlineData("images:dir?size", "key=value")]
    [InlineData("random:4?sead=3", "unknown option 'sead' for random (known: seed, min, max)")]
    [InlineData("images:dir?mena=0.5", "unknown option 'mena' for images")]
    [InlineData("npy:a.npy?scale=2", "npy takes no options, found 'scale'")]
    public void DataSpec_BadSyntax_SaysWhatIsWrong(string text, string expected)
    {
        var e = Assert.Throws<ArchNetException>(() => DataSpec.Parse(text));
        Assert.Contains(expected, e.Message);
    }

    /// <summary>Option values are checked where they are read: a bad one is named, never a FormatException.</summary>
    [Theory]
    [InlineData("random:4?min=abc", "option min: 'abc' is not a finite number")]
    [InlineData("random:4?max=inf", "option max: 'inf' is not a finite number")]
    [InlineData("random:4?seed=1.5", "option seed=1.5 is not an integer")]
    [InlineData("random:4?min=3&max=1", "min (3) is above max (1)")]
    [InlineData("images:IMGS?mean=x,0,0", "option mean: 'x' is not a finite number")]
    [InlineData("images:IMGS?scale=0", "scale must be positive")]
    [InlineData("images:IMGS?std=0.5,0,0.5", "std must not be 0")]
    [InlineData("images:IMGS?size=0x4", "size must be WxH with positive sizes")]
    [InlineData("images:IMGS?layout=chw", "layout must be nchw or nhwc, found 'chw'")]
    [InlineData("images:IMGS?gray=yes", "gray must be 1, 0, true or false, found 'yes'")]
    public void DataSpec_BadOptionValue_IsNamed(string text, string expected)
    {
        var dir = Path.Combine(_dir, "imgs");
        Directory.CreateDirectory(dir);
        using (var image = new Image<Rgb24>(2, 2)) image.SaveAsPng(Path.Combine(dir, "a.png"));
        var e = Assert.Throws<ArchNetException>(() => DataLoader.Load(DataSpec.Parse(text.Replace("IMGS", dir)), [Image(c: 3, h: 2, w: 2)]));
        Assert.Contains(expected, e.Message);
    }

    /// <summary>A .npy header as NumPy writes it (version 1, padded to 64 bytes), then <paramref name="payload"/>.</summary>
    private string RawNpy(string file, string descr, string shape, byte[] payload)
    {
        var header = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({shape}), }}";
        header = header.PadRight(64 - 10 - 1) + "\n";
        var path = Path.Combine(_dir, file);
        File.WriteAllBytes(path, [0x93, .. "NUMPY"u8, 1, 0, (byte)header.Length, 0, .. System.Text.Encoding.ASCII.GetBytes(header), .. payload]);
        return path;
    }

    [Fact]
    public void Npy_BrokenFiles_AreNamedWithTheProblem()
    {
        Assert.Contains("needs 11683 GiB, more than one array can hold", Assert.Throws<ArchNetException>(() =>
            Npy.Read(RawNpy("huge.npy", "<f4", "4000000000, 1, 28, 28,", new byte[16]))).Message);
        Assert.Contains("shorter than its shape [4,2] needs", Assert.Throws<ArchNetException>(() =>
            Npy.Read(RawNpy("short.npy", "<f4", "4, 2,", new byte[16]))).Message);
        Assert.Contains("malformed .npy shape '(4, two,)'", Assert.Throws<ArchNetException>(() =>
            Npy.Read(RawNpy("word.npy", "<f4", "4, two,", new byte[32]))).Message);
        var cut = Path.Combine(_dir, "cut.npy");
        File.WriteAllBytes(cut, [0x93, .. "NUMP"u8]);
        Assert.Contains("cut.npy: not a .npy file (it ends inside its header)", Assert.Throws<ArchNetException>(() => Npy.Read(cut)).Message);
        var zip = Path.Combine(_dir, "bad.npz");
        File.WriteAllBytes(zip, [.. "PK\u0003\u0004garbage"u8]);
        Assert.Contains("bad.npz: not a valid .npz (zip) file", Assert.Throws<ArchNetException>(() => Npz.Read(zip)).Message);
    }

    /// <summary>Seeded corruptions (bytes flipped, dropped, inserted; files cut) of an IDX (gzip and plain), a .npy and a
    /// .npz: each reads or is refused with one line naming the file; never another exception.</summary>
    [Theory]
    [InlineData("idx.gz")]
    [InlineData("idx")]
    [InlineData("npy")]
    [InlineData("npz")]
    public void CorruptedDataFiles_ReadOrAreRefusedWithOneLine(string kind)
    {
        var source = Path.Combine(_dir, "source." + kind);
        var images = Idx.Read(TestData.FashionMnist.TestImages, 3);
        switch (kind)
        {
            case "idx.gz": File.Copy(TestData.FashionMnist.TestLabels, source); break;
            case "idx":
                using (var gz = new System.IO.Compression.GZipStream(File.OpenRead(TestData.FashionMnist.TestLabels), System.IO.Compression.CompressionMode.Decompress))
                using (var plain = File.Create(source)) gz.CopyTo(plain);
                break;
            case "npy": Npy.Write(source, images); break;
            default: Npz.Write(source, new Dictionary<string, TensorData> { ["x"] = images, ["y"] = TensorData.FromInt64s([3], [1, 2, 3]) }); break;
        }
        var original = File.ReadAllBytes(source)[..Math.Min(4096, (int)new FileInfo(source).Length)];
        var path = Path.Combine(_dir, "corrupt." + kind);
        var bad = new List<string>();
        for (var seed = 0; seed < 500; seed++)
        {
            File.WriteAllBytes(path, Corruption.Bytes(original, seed, within: 256));
            var fault = Corruption.Fault(() => _ = kind switch
            {
                "npy" => Npy.Read(path),
                "npz" => Npz.Read(path).Values.FirstOrDefault(),
                _ => Idx.Read(path, 2),
            }, refused => refused.Message.Contains("corrupt." + kind));
            if (fault is not null) bad.Add($"seed {seed}: {fault}");
        }
        Assert.True(bad.Count == 0, string.Join("\n", bad.Take(20)));
    }

    /// <summary>Seeded corruptions of a PNG, a JPEG and a BMP: each decodes or is refused with one line naming the file.</summary>
    [Theory]
    [InlineData("png")]
    [InlineData("jpg")]
    [InlineData("bmp")]
    public void CorruptedImages_ReadOrAreRefusedWithOneLine(string extension)
    {
        var dir = Path.Combine(_dir, "imgs-" + extension);
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "a." + extension);
        using (var image = new Image<Rgb24>(16, 12))
        {
            for (var y = 0; y < 12; y++)
                for (var x = 0; x < 16; x++) image[x, y] = new Rgb24((byte)(x * 15), (byte)(y * 20), (byte)(x * y));
            if (extension == "png") image.SaveAsPng(path);
            else if (extension == "jpg") image.SaveAsJpeg(path);
            else image.SaveAsBmp(path);
        }
        var original = File.ReadAllBytes(path);
        var bad = new List<string>();
        for (var seed = 0; seed < 300; seed++)
        {
            File.WriteAllBytes(path, Corruption.Bytes(original, seed));
            var fault = Corruption.Fault(() => ImageFolder.Read(dir, new ImageOptions(4, 4)), refused => refused.Message.Contains("a." + extension));
            if (fault is not null) bad.Add($"seed {seed}: {fault}");
        }
        Assert.True(bad.Count == 0, string.Join("\n", bad.Take(20)));
    }

    [Fact]
    public void Load_WrongElementType_OrNonFiniteValues_AreNamed()
    {
        var bytes = Path.Combine(_dir, "u8.npy");
        Npy.Write(bytes, new TensorData(ElementType.UInt8, [2, 1, 2, 2], new byte[8]));
        Assert.Contains("input 'x' takes float32, the data is uint8", Assert.Throws<ArchNetException>(() =>
            DataLoader.Load(DataSpec.Parse($"npy:{bytes}"), [Image(c: 1, h: 2, w: 2)])).Message);
        var nan = Path.Combine(_dir, "nan.npy");
        Npy.Write(nan, TensorData.FromFloats([2, 1, 2, 2], [0, 0, 0, 0, 0, 0, float.PositiveInfinity, 0]));
        Assert.Contains("input 'x' holds Infinity (item 1, element 2)", Assert.Throws<ArchNetException>(() =>
            DataLoader.Load(DataSpec.Parse($"npy:{nan}"), [Image(c: 1, h: 2, w: 2)])).Message);
    }

    /// <summary>preset=imagenet is torchvision's Resize(256) + CenterCrop(224): a 400x256 picture whose centre 224 columns
    /// are white between black margins gives all white (a stretch would mix the margins in), normalised with ImageNet's
    /// mean and std; mobilenet maps white to 1 and black to -1; raw stretches to 0..1.</summary>
    [Fact]
    public void Images_Presets_ResizeTheShorterSide_CropTheCentre_AndNormaliseAsTheModelFamily()
    {
        var dir = Path.Combine(_dir, "preset");
        Directory.CreateDirectory(dir);
        using (var image = new Image<Rgb24>(400, 256, new Rgb24(0, 0, 0)))
        {
            for (var y = 0; y < 256; y++)
                for (var x = 88; x < 312; x++) image[x, y] = new Rgb24(255, 255, 255);
            image.SaveAsPng(Path.Combine(dir, "centre.png"));
        }
        var input = Image(c: 3, h: 224, w: 224);
        var imagenet = DataLoader.Load(DataSpec.Parse($"images:{dir}?preset=imagenet"), [input]).Arrays["x"].ToFloats();
        Assert.Equal(3 * 224 * 224, imagenet.Length);
        float[] mean = [0.485f, 0.456f, 0.406f], std = [0.229f, 0.224f, 0.225f];
        for (var c = 0; c < 3; c++)
            Assert.All(imagenet.Skip(c * 224 * 224).Take(224 * 224), v => Assert.Equal((1 - mean[c]) / std[c], v, 3));
        var mobilenet = DataLoader.Load(DataSpec.Parse($"images:{dir}?preset=mobilenet"), [input]).Arrays["x"].ToFloats();
        Assert.All(mobilenet, v => Assert.Equal(1f, v, 3));
        var raw = DataLoader.Load(DataSpec.Parse($"images:{dir}?preset=raw"), [input]).Arrays["x"].ToFloats();
        Assert.Equal(0f, raw[0], 3); // the stretched picture keeps its black margin at the left edge
        Assert.Equal(1f, raw[112], 3);
        Assert.Contains("unknown preset 'resnet' (known: imagenet, mobilenet, raw)", Assert.Throws<ArchNetException>(() =>
            DataLoader.Load(DataSpec.Parse($"images:{dir}?preset=resnet"), [input])).Message);
    }

    /// <summary>Subfolders are read, in the order of their relative paths; labels come from the subfolder names (sorted,
    /// numbered from 0, as torchvision's ImageFolder) or from a CSV of FILE,LABEL rows.</summary>
    [Fact]
    public void Images_InClassSubfolders_AreReadRecursively_WithLabelsFromTheNamesOrACsv()
    {
        var dir = Path.Combine(_dir, "classes");
        foreach (var (cls, file, grey) in new[] { ("dog", "b.png", 200), ("ant", "c.jpg", 100), ("cat", "a.png", 50), ("cat", "z.bmp", 150) })
        {
            Directory.CreateDirectory(Path.Combine(dir, cls));
            using var image = new Image<Rgb24>(4, 4, new Rgb24((byte)grey, (byte)grey, (byte)grey));
            image.Save(Path.Combine(dir, cls, file));
        }
        var ds = DataLoader.Load(DataSpec.Parse($"images:{dir}?preset=raw"), [Image(c: 1, h: 2, w: 2)]);
        Assert.Equal(4, ds.Count);
        var firsts = Enumerable.Range(0, 4).Select(i => (int)Math.Round(ds.Arrays["x"].ToFloats()[i * 4] * 255)).ToArray();
        Assert.Equal([100, 50, 150, 200], firsts); // ant/c, cat/a, cat/z, dog/b
        Assert.Equal([0L, 1, 1, 2], DataLoader.LoadLabels(DataSpec.Parse($"images:{dir}")));
        var csv = Path.Combine(_dir, "labels.csv");
        File.WriteAllLines(csv, ["file,label", "cat/a.png,7", "c.jpg,3", "dog/b.png,9", "cat/z.bmp,7"]);
        Assert.Equal([3L, 7, 7, 9], DataLoader.LoadLabels(DataSpec.Parse($"images:{dir}?labels={csv}")));
        File.WriteAllLines(csv, ["cat/a.png,7"]);
        Assert.Contains("no label for image 'ant/c.jpg'", Assert.Throws<ArchNetException>(() =>
            DataLoader.LoadLabels(DataSpec.Parse($"images:{dir}?labels={csv}"))).Message);
    }

    /// <summary>Every unreadable file is named, none skipped: two damaged files, both on the error's one line.</summary>
    [Fact]
    public void Images_SeveralDamagedFiles_AreEachNamed()
    {
        var dir = Path.Combine(_dir, "damaged");
        Directory.CreateDirectory(Path.Combine(dir, "sub"));
        using (var good = new Image<Rgb24>(2, 2)) good.SaveAsPng(Path.Combine(dir, "good.png"));
        File.WriteAllBytes(Path.Combine(dir, "bad.png"), [1, 2, 3]);
        File.WriteAllBytes(Path.Combine(dir, "sub", "worse.jpg"), [9, 9]);
        var e = Assert.Throws<ArchNetException>(() => DataLoader.Load(DataSpec.Parse($"images:{dir}"), [Image(c: 3, h: 2, w: 2)]));
        Assert.Contains("2 of 3 images cannot be read", e.Message);
        Assert.Contains("bad.png: cannot read the image", e.Message);
        Assert.Contains("worse.jpg: cannot read the image", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void Images_ADamagedFile_IsNamedOnOneLine()
    {
        var dir = Path.Combine(_dir, "imgs");
        Directory.CreateDirectory(dir);
        File.WriteAllBytes(Path.Combine(dir, "broken.png"), [1, 2, 3, 4, 5, 6, 7, 8]);
        var e = Assert.Throws<ArchNetException>(() => DataLoader.Load(DataSpec.Parse($"images:{dir}"), [Image(c: 3, h: 2, w: 2)]));
        Assert.Contains("broken.png: cannot read the image (not a PNG, JPEG, BMP, GIF, TIFF, WebP, TGA or PBM image, or damaged)", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void Random_IsSeededAndShapedLikeTheInput()
    {
        var a = DataLoader.Load(DataSpec.Parse("random:4?seed=3"), [Image(c: 1, h: 5, w: 5)]);
        var b = DataLoader.Load(DataSpec.Parse("random:4?seed=3"), [Image(c: 1, h: 5, w: 5)]);
        Assert.True(a.LowConfidence);
        Assert.Equal([4L, 1, 5, 5], a.Arrays["x"].Dims.ToArray());
        Assert.Equal(a.Arrays["x"].ToFloats(), b.Arrays["x"].ToFloats());
    }

    /// <summary>Silero VAD's inputs: audio [batch, sequence], a scalar sample rate, a state [2, batch, 128]. Random data
    /// gives every non-scalar input N items along its first axis, the scalar none: the refusal names each input's count.</summary>
    [Fact]
    public void Load_InputsWithoutTheItemsFirst_AreNamedWithTheirCounts()
    {
        var e = Assert.Throws<ArchNetException>(() => DataLoader.Load(DataSpec.Parse("random:4"),
            [new("input", ElementType.Float, [null, 512]), new("sr", ElementType.Int64, []), new("state", ElementType.Float, [2, 1, 128])]));
        Assert.Contains("'input' 4, 'sr' 1 (a scalar), 'state' 4", e.Message);
        Assert.Contains("every input's array is N items along its first axis", e.Message);
    }

    [Fact]
    public void Load_WrongShape_NamesInputAndShapes()
    {
        var e = Assert.Throws<ArchNetException>(() =>
            DataLoader.Load(DataSpec.Parse($"idx:{TestData.FashionMnist.TestImages}:4"), [Image(c: 3, h: 28, w: 28)]));
        Assert.Contains("input 'x'", e.Message);
        Assert.Contains("[4,1,28,28]", e.Message);
    }
}
