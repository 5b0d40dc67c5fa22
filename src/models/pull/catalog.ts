/**
 * The public ImageNet classifiers `advserve models pull` knows: the 10 models of ../shared/models
 * (their SOURCES.md and catalog.json give provenance, sizes and sha256s), each a normal model
 * folder once pulled. A file has a `url` only where that exact file is published in a public
 * repository at a fixed commit; files made from an upstream release (networks converted from
 * TFLite to tfjs, the label and WordNet-id lists) have no public home, and only a mirror
 * (`--mirror`, serving `<mirror>/<id>/<file>`) can supply them.
 */
import type { CatalogNetwork } from './advserve-json';

export interface CatalogFile {
  name: string;
  bytes: number;
  sha256: string;
  /** Where this exact file is published (raw GitHub URL at a fixed commit); absent when only a mirror has it. */
  url?: string;
}

export interface CatalogEntry {
  id: string;
  description: string;
  format: 'tfjs-layers' | 'tfjs-graph' | 'onnx';
  /** Where the network came from (upstream release, public repository and commit). */
  source: string;
  license: string;
  /** What its advserve.json is made from (advserveJsonFor). */
  network: Omit<CatalogNetwork, 'id'>;
  files: CatalogFile[];
}

/** Raw-file URLs at a fixed commit of a public GitHub repository. */
const github = (repo: string, commit: string, dir: string) => (name: string) => `https://raw.githubusercontent.com/${repo}/${commit}/${dir}/${name}`;
const SIPILAH = github('ramli-labs/sipilah', 'f2366eb9b2fe401bb684795f8abf4ef32c697879', 'mobilenet');
const ML5 = github('ml5js/ml5-data-and-models', '0612a3e7c51cbffdc5db701dff49d16d1ac26fa8', 'models/darknetclassifier/darknettiny');
const MARP = github('Lawrence-lugs/MARP', '92ce10f77c2359b68699e6fe9a16d09c106532c8', 'onnx_models');

export const CATALOG: readonly CatalogEntry[] = [
  {
    id: 'mobilenet_v1_025_224_tfhub',
    description: 'MobileNet V1, width multiplier 0.25',
    format: 'tfjs-graph',
    source: 'TF-Hub google/imagenet/mobilenet_v1_025_224/classification/1 (tfjs), as saved in GitHub ramli-labs/sipilah @ f2366eb, mobilenet/',
    license: 'Apache-2.0',
    network: { entry: 'model.json', input: { size: [224, 224], layout: 'NHWC', scale: [0.00392156862745098, 0.00392156862745098, 0.00392156862745098], offset: [0.0, 0.0, 0.0], formula: 'x = p/255' }, output: { background_index: 0, ends_in_softmax: false } },
    files: [
      { name: 'group1-shard1of1.bin', bytes: 1870388, sha256: '639c16be6dac70b2350586f503a379396807dcb2df840685bfafe6af2d8ec30f', url: SIPILAH('group1-shard1of1.bin') },
      { name: 'labels.json', bytes: 24692, sha256: 'f8f90f1fea7f6d6eaf63b81effa2da9189409c7db4dbc222c14f0bc8b04b6b39' },
      { name: 'model.json', bytes: 44068, sha256: 'f9d5d3752f20a5d9a115749bdbe7643b38cd57a11d4114f5dd2f4404af9850d8', url: SIPILAH('model.json') },
      { name: 'wnids.json', bytes: 13016, sha256: '9594f0ae6214143c3c8793bbf7fd00677ee27141f03d26d330c230d4c025f5fb' },
    ],
  },
  {
    id: 'darknet_tiny_224',
    description: 'Darknet "tiny" ImageNet classifier (pjreddie cfg/tiny.cfg), own class order',
    format: 'tfjs-layers',
    source: "pjreddie's Darknet tiny.weights converted by ml5: GitHub ml5js/ml5-data-and-models @ 0612a3e, models/darknetclassifier/darknettiny/",
    license: 'MIT (ml5js/ml5-data-and-models)',
    network: { entry: 'model.json', input: { size: [224, 224], layout: 'NHWC', scale: [0.00392156862745098, 0.00392156862745098, 0.00392156862745098], offset: [0.0, 0.0, 0.0], formula: 'x = p/255' }, output: { background_index: null, ends_in_softmax: false } },
    files: [
      { name: 'group1-shard1of1', bytes: 256, sha256: '1a95595a3f6c497f27747d40276649a10988d0808a121ddfb3f6b368133f44c5', url: ML5('group1-shard1of1') },
      { name: 'group10-shard1of1', bytes: 2048, sha256: '2afc82f4d423cb8272e4089b69c5dba2755eea8499935b4f0020e27b5d559557', url: ML5('group10-shard1of1') },
      { name: 'group11-shard1of1', bytes: 256, sha256: '8957dc1caa88193522d8071f6ac3171634818bb50223b1e98ace21f010b414cc', url: ML5('group11-shard1of1') },
      { name: 'group12-shard1of1', bytes: 2048, sha256: 'bced27a16699c0eca4ee4d15c4e5fac46532a6f2850b53445818c0e2e69af7b1', url: ML5('group12-shard1of1') },
      { name: 'group13-shard1of1', bytes: 512, sha256: '5e6172c6d71505fce1a9388e733aaddf21f6ab14f9ccaf10d2986a94b8f19b42', url: ML5('group13-shard1of1') },
      { name: 'group14-shard1of1', bytes: 4096, sha256: 'adfb4ad19dea5c1ba0c9b7e7d90f6265aac136a7d98e0f0eed4362d62e5e51f8', url: ML5('group14-shard1of1') },
      { name: 'group15-shard1of1', bytes: 512, sha256: '79131184270263a2c585240efbfdd3ed13fc005c67b761ced984c70265209511', url: ML5('group15-shard1of1') },
      { name: 'group16-shard1of1', bytes: 1728, sha256: 'd70b0b9f3db3d51bd5613246885f4723998aef2e56845c7dec75743221f1ef5e', url: ML5('group16-shard1of1') },
      { name: 'group17-shard1of1', bytes: 294912, sha256: '3dad37a465ab881c2d2006072cd60d83144d04a5c5448f49e15308472bbb145a', url: ML5('group17-shard1of1') },
      { name: 'group18-shard1of1', bytes: 65536, sha256: 'c7a7f19a7a9e3a780bd1aedfe30a7e594821ea8d57d6e72d148c033b0f24f5fa', url: ML5('group18-shard1of1') },
      { name: 'group19-shard1of1', bytes: 1179648, sha256: '4f16fe423091d9b32d59bff14cd19f1a6a233bc98adade4a1e0ef0d2972752b5', url: ML5('group19-shard1of1') },
      { name: 'group2-shard1of1', bytes: 4096, sha256: '8226135041fbafc7c3a838d0673badb8d3e4211a4d550781951d15a09445ea47', url: ML5('group2-shard1of1') },
      { name: 'group20-shard1of1', bytes: 131072, sha256: '1efd0b489da0d04808a02175c2803528313f7e9abadb18a5dc3ae0b5bd5c0331', url: ML5('group20-shard1of1') },
      { name: 'group21-shard1of1', bytes: 1179648, sha256: '9d024d14a803a3b078df0e9829bcc13a8901c3a6043456632ce5697be5734155', url: ML5('group21-shard1of1') },
      { name: 'group22-shard1of1', bytes: 262144, sha256: '0c18a3238859e649bac990e90dc4738861ffd07e9bee725139bec9ef3b8545ef', url: ML5('group22-shard1of1') },
      { name: 'group23-shard1of1', bytes: 516000, sha256: '2116862cb9cd43b21a3bfa3ea41e43dbe33284a97a8a22c5afe8d768f5a767af', url: ML5('group23-shard1of1') },
      { name: 'group24-shard1of1', bytes: 18432, sha256: '35c4204cee6796300f50addf2a2202a137eaa8a42999a79168f9226f60c8a62b', url: ML5('group24-shard1of1') },
      { name: 'group25-shard1of1', bytes: 2048, sha256: '9a37816bda07b3be24b88103a11dcc5d3eea15749a15594492b03ba3177a6a5e', url: ML5('group25-shard1of1') },
      { name: 'group26-shard1of1', bytes: 73728, sha256: '697677a6c94bd84fb0b558421629b5424101c4ea16601be53096275f43891f6c', url: ML5('group26-shard1of1') },
      { name: 'group27-shard1of1', bytes: 8192, sha256: 'ef48b33bcf06fed0a9cc8b41017bccbf4f32fceeae946c00e0fd130fc467f9e4', url: ML5('group27-shard1of1') },
      { name: 'group28-shard1of1', bytes: 73728, sha256: '2831d9d4368b4cad678f9a3df4c9575bc35e1c2a7ef6ebed887c02c06a4f6dab', url: ML5('group28-shard1of1') },
      { name: 'group29-shard1of1', bytes: 16384, sha256: '720e58d7e54901e8db21d698fc094ffcb65a5991397895fef827ce53094b2a15', url: ML5('group29-shard1of1') },
      { name: 'group3-shard1of1', bytes: 1024, sha256: '3a465f4bbcbcd7721caa77b704829cfe20eadab670a8d91a352e76e4cfca1a02', url: ML5('group3-shard1of1') },
      { name: 'group30-shard1of1', bytes: 294912, sha256: 'a68c7913477828b28c2fe1924b191139877f7825e5f1a2e1c1b0e0e92accc669', url: ML5('group30-shard1of1') },
      { name: 'group31-shard1of1', bytes: 32768, sha256: '7985bd42bc5c0333e563998ad6d4616b0afaf1765f2b8c4c6df3944cf8f13992', url: ML5('group31-shard1of1') },
      { name: 'group4-shard1of1', bytes: 8192, sha256: '3e661974c4740795f3ca9b882ae80dc3521951dac2b262ac054329f17aaefb10', url: ML5('group4-shard1of1') },
      { name: 'group5-shard1of1', bytes: 1024, sha256: '5f1fa7779fe01d2b06ea3804f84e5cf6a25688dc458617a9f35a1018356abcbf', url: ML5('group5-shard1of1') },
      { name: 'group6-shard1of1', bytes: 8192, sha256: 'e054b14e9e866da448ab351f04d3920ae216032b3df680396163a77b8925a009', url: ML5('group6-shard1of1') },
      { name: 'group7-shard1of1', bytes: 2048, sha256: '2aed907302664d64b85669a293c8f5a492521b4d025b9b3a19943f951a7e32df', url: ML5('group7-shard1of1') },
      { name: 'group8-shard1of1', bytes: 512, sha256: '99e0418ac61cd6093df0bb4a5a67750ec0b0fbb8edb2125c0cfda67e3cb3f1a4', url: ML5('group8-shard1of1') },
      { name: 'group9-shard1of1', bytes: 256, sha256: '4fb47f3aa4f19f7fabd7d4271cf81e8af7735fcfc89bf4b9174f379bb60b129d', url: ML5('group9-shard1of1') },
      { name: 'labels.json', bytes: 13475, sha256: '92187938608398f8fb5e25ae3060378f5a7c7c4dc1246a5a7c83694e69ea93b2' },
      { name: 'model.json', bytes: 33236, sha256: '5a5ee1ddb33ac7948b303197f4c63f72a80fc00a7d2870d30843004ddd5b4b51', url: ML5('model.json') },
      { name: 'wnids.json', bytes: 13002, sha256: 'bdd56a6e1f0915d46d49e7c0f89021596a276681844e821c90c76a563989364d' },
    ],
  },
  {
    id: 'mobilenet_v2_100_224_onnx_int8',
    description: 'MobileNet V2 1.0 (ONNX Model Zoo mobilenetv2-12, PyTorch-exported, int8 QLinear quantized)',
    format: 'onnx',
    source: 'ONNX Model Zoo mobilenetv2-12-int8, copy in GitHub Lawrence-lugs/MARP @ 92ce10f, onnx_models/',
    license: 'Apache-2.0',
    network: { entry: 'mobilenetv2-12-int8.onnx', input: { size: [224, 224], layout: 'NCHW', scale: [0.017124753831663668, 0.01750700280112045, 0.017429193899782137], offset: [-2.1179039301310043, -2.0357142857142856, -1.8044444444444445], formula: 'x = (p/255 - mean)/std' }, output: { background_index: null, ends_in_softmax: false } },
    files: [
      { name: 'labels.json', bytes: 24678, sha256: '717e76c00876c2ccf31dc4bd187ca29e2e018cdc48a3c90c1cfab84235a1f9ea' },
      { name: 'mobilenetv2-12-int8.onnx', bytes: 3655640, sha256: '83530ad811bc31d2b60a5599a21265a5057608c9b044b4ee758cc22f2309f54f', url: MARP('mobilenetv2-12-int8.onnx') },
      { name: 'wnids.json', bytes: 13002, sha256: '59782fd962be056288cdcb9604375fac0edb042e62c037be82a51260de141005' },
    ],
  },
  {
    id: 'mobilenet_v1_025_128_quant',
    description: 'MobileNet V1 0.25, 128x128, quantization-aware trained (TF-slim)',
    format: 'tfjs-layers',
    source: 'TFLite mobilenet_v1_0.25_128_quant.tflite from GitHub google-coral/test_data, converted to tfjs for ../shared (no public copy of the converted files)',
    license: 'Apache-2.0',
    network: { entry: 'model.json', input: { size: [128, 128], layout: 'NHWC', scale: [0.0078125, 0.0078125, 0.0078125], offset: [-1.0, -1.0, -1.0], formula: 'x = (p-128)/128' }, output: { background_index: 0, ends_in_softmax: true } },
    files: [
      { name: 'group1-shard1of1.bin', bytes: 478804, sha256: '5d864aae1cb76d50d8bfaff585e85023a3c4023b41662eb492b55b3084a2e01b' },
      { name: 'labels.json', bytes: 24691, sha256: 'dd4afdd63820b4d5e68a46e6175246ef802199333f649b3b1ce13a3cd45ef407' },
      { name: 'model.json', bytes: 32940, sha256: '5780007259522aabb49b74ff392a6f95dfb049672efb596d48bff511ddb69c19' },
      { name: 'wnids.json', bytes: 13016, sha256: '9594f0ae6214143c3c8793bbf7fd00677ee27141f03d26d330c230d4c025f5fb' },
    ],
  },
  {
    id: 'mobilenet_v1_050_160_quant',
    description: 'MobileNet V1 0.5, 160x160, quantization-aware trained (TF-slim)',
    format: 'tfjs-layers',
    source: 'TFLite mobilenet_v1_0.5_160_quant.tflite from GitHub google-coral/test_data, converted to tfjs for ../shared (no public copy of the converted files)',
    license: 'Apache-2.0',
    network: { entry: 'model.json', input: { size: [160, 160], layout: 'NHWC', scale: [0.0078125, 0.0078125, 0.0078125], offset: [-1.0, -1.0, -1.0], formula: 'x = (p-128)/128' }, output: { background_index: 0, ends_in_softmax: true } },
    files: [
      { name: 'group1-shard1of1.bin', bytes: 1346052, sha256: '74311c96153af026e72480ce1f1979fef44363c1c67b8fd28ee4df64820f20c8' },
      { name: 'labels.json', bytes: 24691, sha256: 'dd4afdd63820b4d5e68a46e6175246ef802199333f649b3b1ce13a3cd45ef407' },
      { name: 'model.json', bytes: 32945, sha256: 'acc2ffd506fffd09fa876f0fe463f1f2a4e8a2b84093b49cfdd5a3e3a6526a6d' },
      { name: 'wnids.json', bytes: 13016, sha256: '9594f0ae6214143c3c8793bbf7fd00677ee27141f03d26d330c230d4c025f5fb' },
    ],
  },
  {
    id: 'mobilenet_v1_075_192_quant',
    description: 'MobileNet V1 0.75, 192x192, quantization-aware trained (TF-slim)',
    format: 'tfjs-layers',
    source: 'TFLite mobilenet_v1_0.75_192_quant.tflite from GitHub google-coral/test_data, converted to tfjs for ../shared (no public copy of the converted files)',
    license: 'Apache-2.0',
    network: { entry: 'model.json', input: { size: [192, 192], layout: 'NHWC', scale: [0.0078125, 0.0078125, 0.0078125], offset: [-1.0, -1.0, -1.0], formula: 'x = (p-128)/128' }, output: { background_index: 0, ends_in_softmax: true } },
    files: [
      { name: 'group1-shard1of1.bin', bytes: 2605748, sha256: 'f72404ebae15fba6a9ea536479ef5fb8122c75894a720f2d948cde53bd4bf4c4' },
      { name: 'labels.json', bytes: 24691, sha256: 'dd4afdd63820b4d5e68a46e6175246ef802199333f649b3b1ce13a3cd45ef407' },
      { name: 'model.json', bytes: 32946, sha256: '597fc9c935282035074526019ce3efb663328a37a1841d96b1854ca0d92811c8' },
      { name: 'wnids.json', bytes: 13016, sha256: '9594f0ae6214143c3c8793bbf7fd00677ee27141f03d26d330c230d4c025f5fb' },
    ],
  },
  {
    id: 'mobilenet_v2_100_224_quant_hosted',
    description: 'MobileNet V2 1.0, 224x224, quantization-aware trained (TF Lite hosted model)',
    format: 'tfjs-layers',
    source: 'TFLite mobilenet_v2_1.0_224_quant.tflite from GitHub google-coral/test_data, converted to tfjs for ../shared (no public copy of the converted files)',
    license: 'Apache-2.0',
    network: { entry: 'model.json', input: { size: [224, 224], layout: 'NHWC', scale: [0.0078125, 0.0078125, 0.0078125], offset: [-1.0, -1.0, -1.0], formula: 'x = (p-128)/128' }, output: { background_index: 0, ends_in_softmax: true } },
    files: [
      { name: 'group1-shard1of1.bin', bytes: 3543268, sha256: '2df28fdc94b9f6f2c2950a8cd908e7a4afb987946c72a0ff5644c9fbab1fd0fd' },
      { name: 'labels.json', bytes: 24691, sha256: 'dd4afdd63820b4d5e68a46e6175246ef802199333f649b3b1ce13a3cd45ef407' },
      { name: 'model.json', bytes: 58351, sha256: '74a7e454a6325fa1c09d18262bec68e3f1bb61bf5d8485a9c9f0d1ded8bb3143' },
      { name: 'wnids.json', bytes: 13016, sha256: '9594f0ae6214143c3c8793bbf7fd00677ee27141f03d26d330c230d4c025f5fb' },
    ],
  },
  {
    id: 'mobilenet_v2_050_224_quant',
    description: 'MobileNet V2 0.5, 224x224, quantization-aware trained (MobileNetV2 checkpoint release)',
    format: 'tfjs-layers',
    source: 'TFLite mobilenet_v2_0_5_224_quant.tflite from GitHub GreenWaves-Technologies/mobilenet, converted to tfjs for ../shared (no public copy of the converted files)',
    license: 'Apache-2.0 (Google MobileNet release); the GreenWaves repository has no LICENSE',
    network: { entry: 'model.json', input: { size: [224, 224], layout: 'NHWC', scale: [0.00784313725490196, 0.00784313725490196, 0.00784313725490196], offset: [-1.0, -1.0, -1.0], formula: 'x = p/127.5 - 1' }, output: { background_index: 0, ends_in_softmax: true } },
    files: [
      { name: 'group1-shard1of1.bin', bytes: 1991508, sha256: 'a86157abb0db72000f82e2c936d51a70695c329a3344b8c14d5564aa71116a7b' },
      { name: 'labels.json', bytes: 24422, sha256: '1394a9153f0a1869f95cbca3c94da4daebeacb207ce01c9c59cc1cce865347e7' },
      { name: 'model.json', bytes: 58286, sha256: 'c77a0b0f112a0344a89e2861a501a5db4fcaa9dfa8c17add4e915b4e3866ef66' },
      { name: 'wnids.json', bytes: 13016, sha256: '9594f0ae6214143c3c8793bbf7fd00677ee27141f03d26d330c230d4c025f5fb' },
    ],
  },
  {
    id: 'mobilenet_v2_075_224_quant',
    description: 'MobileNet V2 0.75, 224x224, quantization-aware trained (MobileNetV2 checkpoint release)',
    format: 'tfjs-layers',
    source: 'TFLite mobilenet_v2_0_75_224_quant.tflite from GitHub GreenWaves-Technologies/mobilenet, converted to tfjs for ../shared (no public copy of the converted files)',
    license: 'Apache-2.0 (Google MobileNet release); the GreenWaves repository has no LICENSE',
    network: { entry: 'model.json', input: { size: [224, 224], layout: 'NHWC', scale: [0.00784313725490196, 0.00784313725490196, 0.00784313725490196], offset: [-1.0, -1.0, -1.0], formula: 'x = p/127.5 - 1' }, output: { background_index: 0, ends_in_softmax: true } },
    files: [
      { name: 'group1-shard1of1.bin', bytes: 2667348, sha256: 'cda19724695131b83733d789e32b76658bb2af4ceb20d44a1b1e5e5adc5305e6' },
      { name: 'labels.json', bytes: 24422, sha256: '1394a9153f0a1869f95cbca3c94da4daebeacb207ce01c9c59cc1cce865347e7' },
      { name: 'model.json', bytes: 58350, sha256: 'bd51322acdd85fb0a890698e95941ec5e3dbf798f4e92eb323b5d18b528cebc1' },
      { name: 'wnids.json', bytes: 13016, sha256: '9594f0ae6214143c3c8793bbf7fd00677ee27141f03d26d330c230d4c025f5fb' },
    ],
  },
  {
    id: 'mobilenet_v2_100_224_quant_ckpt',
    description: 'MobileNet V2 1.0, 224x224, quantization-aware trained (MobileNetV2 checkpoint release; different weights from mobilenet_v2_100_224_quant_hosted)',
    format: 'tfjs-layers',
    source: 'TFLite mobilenet_v2_1_0_224_quant.tflite from GitHub GreenWaves-Technologies/mobilenet, converted to tfjs for ../shared (no public copy of the converted files)',
    license: 'Apache-2.0 (Google MobileNet release); the GreenWaves repository has no LICENSE',
    network: { entry: 'model.json', input: { size: [224, 224], layout: 'NHWC', scale: [0.00784313725490196, 0.00784313725490196, 0.00784313725490196], offset: [-1.0, -1.0, -1.0], formula: 'x = p/127.5 - 1' }, output: { background_index: 0, ends_in_softmax: true } },
    files: [
      { name: 'group1-shard1of1.bin', bytes: 3543268, sha256: 'd7f60af52cf5166ab9072614caf104922b3b1a049ef3080c4471eb2cea543f88' },
      { name: 'labels.json', bytes: 24422, sha256: '1394a9153f0a1869f95cbca3c94da4daebeacb207ce01c9c59cc1cce865347e7' },
      { name: 'model.json', bytes: 58345, sha256: 'c1750a87dfb6e494b31f3cba7afe8488d5bbacc265829e4139bf6d5d54c16706' },
      { name: 'wnids.json', bytes: 13016, sha256: '9594f0ae6214143c3c8793bbf7fd00677ee27141f03d26d330c230d4c025f5fb' },
    ],
  }
,
];

export const catalogEntry = (id: string): CatalogEntry | undefined => CATALOG.find((e) => e.id === id);

export const totalBytes = (e: CatalogEntry): number => e.files.reduce((s, f) => s + f.bytes, 0);
