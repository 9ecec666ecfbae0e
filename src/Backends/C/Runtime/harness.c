/* Runs the generated model over a batch read from an .npy file and writes the outputs as .npy.
 *   model_harness INPUT.npy OUTPUT.npy [--quantized] [--output K] [--repeat R]
 * INPUT: float32 (little-endian), shape (N, ...) with N x (model input size) elements; each item runs alone.
 * OUTPUT: output K (default 0) for every item, shape (N, ...): float32 dequantized, or int32 with --quantized.
 * --repeat R runs the whole batch R times and prints the mean time per item (benchmarks). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "@HEADER@"

static void fail(const char *what, const char *path)
{
    fprintf(stderr, "model_harness: %s: %s\n", what, path);
    exit(2);
}

/* Reads an .npy (version 1, 2 or 3) of float32; returns the element count. */
static float *read_npy(const char *path, long *count)
{
    unsigned char magic[10];
    unsigned int header_len;
    char *header;
    const char *shape;
    long n = 1;
    float *data;
    FILE *f = fopen(path, "rb");
    if (!f) fail("cannot open", path);
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "\x93NUMPY", 6) != 0) fail("not an .npy file", path);
    if (magic[6] == 1)
    {
        unsigned char b[2];
        if (fread(b, 1, 2, f) != 2) fail("truncated header", path);
        header_len = b[0] | (b[1] << 8);
    }
    else
    {
        unsigned char b[4];
        if (fread(b, 1, 4, f) != 4) fail("truncated header", path);
        header_len = b[0] | (b[1] << 8) | (b[2] << 16) | ((unsigned)b[3] << 24);
    }
    header = (char *)malloc(header_len + 1);
    if (!header || fread(header, 1, header_len, f) != header_len) fail("truncated header", path);
    header[header_len] = 0;
    if (!strstr(header, "'<f4'")) fail("input must be float32 ('<f4')", path);
    if (strstr(header, "'fortran_order': True")) fail("input must be C-ordered", path);
    shape = strstr(header, "'shape': (");
    if (!shape) fail("no shape in header", path);
    shape += 10;
    while (*shape && *shape != ')')
    {
        char *end;
        long d = strtol(shape, &end, 10);
        if (end == shape) break;
        n *= d;
        shape = end;
        while (*shape == ',' || *shape == ' ') shape++;
    }
    free(header);
    data = (float *)malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    if (!data || fread(data, sizeof(float), (size_t)n, f) != (size_t)n) fail("truncated data", path);
    fclose(f);
    *count = n;
    return data;
}

int main(int argc, char **argv)
{
    int quantized = 0, out = 0, repeat = 1, i;
    long count, items, item, r;
    float *input;
    const float *inputs[@PREFIX_UPPER@_NUM_INPUTS];
    float *outputs[@PREFIX_UPPER@_NUM_OUTPUTS];
    int32_t *outputs_q[@PREFIX_UPPER@_NUM_OUTPUTS];
    void *result;
    if (argc < 3)
    {
        fprintf(stderr, "usage: %s INPUT.npy OUTPUT.npy [--quantized] [--output K] [--repeat R]\n", argv[0]);
        return 2;
    }
    for (i = 3; i < argc; i++)
    {
        if (strcmp(argv[i], "--quantized") == 0) quantized = 1;
        else if (strcmp(argv[i], "--output") == 0 && i + 1 < argc) out = atoi(argv[++i]);
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) repeat = atoi(argv[++i]);
        else fail("unknown option", argv[i]);
    }
    if (@PREFIX_UPPER@_NUM_INPUTS != 1) fail("the harness feeds models with one input", argv[1]);
    if (out < 0 || out >= @PREFIX_UPPER@_NUM_OUTPUTS) fail("no such output", argv[2]);
    input = read_npy(argv[1], &count);
    items = count / @PREFIX@_input_sizes[0];
    if (items * @PREFIX@_input_sizes[0] != count) fail("input size is not a multiple of the model's input", argv[1]);
    for (i = 0; i < @PREFIX_UPPER@_NUM_OUTPUTS; i++)
    {
        outputs[i] = (float *)malloc(sizeof(float) * (size_t)@PREFIX@_output_sizes[i] * (size_t)(items ? items : 1));
        outputs_q[i] = (int32_t *)malloc(sizeof(int32_t) * (size_t)@PREFIX@_output_sizes[i] * (size_t)(items ? items : 1));
    }
    {
        clock_t start = clock();
        for (r = 0; r < repeat; r++)
            for (item = 0; item < items; item++)
            {
                float *o[@PREFIX_UPPER@_NUM_OUTPUTS];
                int32_t *q[@PREFIX_UPPER@_NUM_OUTPUTS];
                for (i = 0; i < @PREFIX_UPPER@_NUM_OUTPUTS; i++)
                {
                    o[i] = outputs[i] + (size_t)item * @PREFIX@_output_sizes[i];
                    q[i] = outputs_q[i] + (size_t)item * @PREFIX@_output_sizes[i];
                }
                inputs[0] = input + (size_t)item * @PREFIX@_input_sizes[0];
                @PREFIX@_run(inputs, q, o);
            }
        if (repeat > 1)
            printf("%.3f us per item\n", 1e6 * (double)(clock() - start) / CLOCKS_PER_SEC / (double)(repeat * (items ? items : 1)));
    }
    result = quantized ? (void *)outputs_q[out] : (void *)outputs[out];
    {
        long size = @PREFIX@_output_sizes[out];
        FILE *f;
        char header[256], shape[200];
        int len = 0, pad, d;
        len = sprintf(shape, "(%ld,", items);
        for (d = 0; d < @PREFIX@_output_ranks[out]; d++) len += sprintf(shape + len, " %d,", @PREFIX@_output_dims[out][d]);
        if (@PREFIX@_output_ranks[out] > 0) shape[len - 1] = 0;
        strcat(shape, ")");
        len = sprintf(header, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", quantized ? "<i4" : "<f4", shape);
        pad = 64 - (10 + len + 1) % 64;
        if (pad == 64) pad = 0;
        while (pad-- > 0) header[len++] = ' ';
        header[len++] = '\n';
        f = fopen(argv[2], "wb");
        if (!f) fail("cannot write", argv[2]);
        fwrite("\x93NUMPY\x01\x00", 1, 8, f);
        fputc(len & 0xff, f);
        fputc((len >> 8) & 0xff, f);
        fwrite(header, 1, (size_t)len, f);
        fwrite(result, 4, (size_t)(items * size), f);
        fclose(f);
    }
    return 0;
}
