package dev.compress.benchmarks;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Real English sentences from the license texts of Debian's {@code base-files} package
 * ({@code /usr/share/common-licenses}, present on every Debian system). Extraction is deterministic: whitespace
 * collapsed, split after '.', '!' or '?' before a capital, quote or parenthesis, sentences of 6 to 64 words kept,
 * duplicates dropped, files in the listed order.
 *
 * <p>Chinese text for Chinese encoders ({@link #chineseEvaluation()}): what such models embed in practice, postal
 * addresses and search queries, composed from fixed word lists by a seeded generator (no Chinese corpus ships with
 * Debian's base system).
 */
public final class Sentences {
    static final Path LICENSES = Path.of("/usr/share/common-licenses");
    /** The evaluation texts. */
    static final List<String> EVALUATION = List.of("GPL-3", "Apache-2.0", "MPL-2.0", "LGPL-2.1", "GPL-2", "GFDL-1.3");
    /** Calibration texts: other licenses; sentences also in the evaluation texts are dropped. */
    static final List<String> CALIBRATION = List.of("GPL-1", "Artistic", "LGPL-3", "MPL-1.1", "CC0-1.0", "BSD");
    private static final Pattern BOUNDARY = Pattern.compile("(?<=[.!?])\\s+(?=[A-Z\"(])");
    private static final String[] CITIES = {"北京市", "上海市", "广州市", "深圳市", "杭州市", "成都市", "南京市",
        "武汉市", "西安市", "重庆市", "苏州市", "天津市", "长沙市", "郑州市", "青岛市", "厦门市"};
    private static final String[] DISTRICTS = {"朝阳区", "海淀区", "浦东新区", "徐汇区", "天河区", "南山区",
        "西湖区", "武侯区", "鼓楼区", "洪山区", "雁塔区", "渝中区", "姑苏区", "和平区", "岳麓区", "金水区"};
    private static final String[] ROADS = {"人民路", "中山路", "解放大道", "建设路", "长安街", "南京路", "科技园路",
        "文三路", "学院路", "滨江大道", "青年路", "和平街", "东风路", "新华路"};
    private static final String[] BUILDINGS = {"阳光小区", "华润大厦", "万达广场", "软件园", "国际中心",
        "人民医院", "第一中学", "火车站", "图书馆", "体育中心", "科技大厦", "花园小区"};
    private static final String[] PLACES = {"咖啡店", "火锅店", "地铁站", "药店", "银行", "加油站", "停车场",
        "健身房", "书店", "超市", "医院", "酒店", "面包店", "电影院"};
    private static final String[] QUERIES = {"%s附近有什么好吃的%s", "%s哪家%s评价最好", "从%s到%s怎么坐地铁",
        "%s的%s几点开门", "%s最便宜的%s在哪里", "周末去%s的%s需要预约吗", "%s有没有二十四小时营业的%s",
        "请推荐%s性价比高的%s"};
    private static final String[] QUESTIONS = {"如何申请信用卡", "手机丢了怎么办", "明天会下雨吗", "怎样学习编程",
        "高铁票可以退吗", "感冒了吃什么药", "护照办理需要多长时间", "电脑开不了机怎么修", "快递多久能到",
        "怎么查询社保缴费记录", "孩子发烧到多少度要去医院", "租房合同要注意什么", "如何提高睡眠质量",
        "公积金怎么提取", "驾照到期怎么换证", "新手如何开始理财"};

    private Sentences() {}

    /** The evaluation sentences (about 520). */
    public static List<String> evaluation() {
        return List.copyOf(read(EVALUATION, Set.of()));
    }

    /** Calibration sentences, disjoint from {@link #evaluation()}. */
    public static List<String> calibration() {
        return List.copyOf(read(CALIBRATION, read(EVALUATION, Set.of())));
    }

    private static Set<String> read(List<String> files, Set<String> skip) {
        Set<String> sentences = new LinkedHashSet<>();
        for (String file : files) {
            String text;
            try {
                text = Files.readString(LICENSES.resolve(file), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException("sentences come from Debian's base-files package: " + e.getMessage(), e);
            }
            for (String sentence : BOUNDARY.split(String.join(" ", text.strip().split("\\s+")))) {
                int words = sentence.split(" ").length;
                if (words >= 6 && words <= 64 && !skip.contains(sentence)) {
                    sentences.add(sentence);
                }
            }
        }
        return sentences;
    }

    /** Chinese addresses and search queries for evaluation (seed 1). */
    public static List<String> chineseEvaluation() {
        return List.copyOf(chinese(1, 400, Set.of()));
    }

    /** Chinese calibration text (seed 2), disjoint from {@link #chineseEvaluation()}. */
    public static List<String> chineseCalibration() {
        return List.copyOf(chinese(2, 160, chinese(1, 400, Set.of())));
    }

    /** {@code count} distinct lines, a third each: full addresses, local searches, everyday questions. */
    private static Set<String> chinese(long seed, int count, Set<String> skip) {
        java.util.Random random = new java.util.Random(seed);
        Set<String> lines = new LinkedHashSet<>();
        while (lines.size() < count) {
            String city = pick(random, CITIES);
            String line = switch (lines.size() % 3) {
                case 0 -> city + pick(random, DISTRICTS) + pick(random, ROADS) + (1 + random.nextInt(899)) + "号"
                        + pick(random, BUILDINGS) + (1 + random.nextInt(30)) + "栋" + (101 + random.nextInt(2900))
                        + "室";
                case 1 -> String.format(pick(random, QUERIES), city + pick(random, DISTRICTS),
                        pick(random, PLACES));
                default -> pick(random, QUESTIONS) + "，" + city + "的" + pick(random, PLACES) + "在哪里";
            };
            if (!skip.contains(line)) {
                lines.add(line);
            }
        }
        return lines;
    }

    private static String pick(java.util.Random random, String[] words) {
        return words[random.nextInt(words.length)];
    }

    /** Writes sentences one per line (the text-calibration format). */
    public static Path write(List<String> sentences, Path file) throws IOException {
        List<String> lines = new ArrayList<>(sentences.size());
        sentences.forEach(s -> lines.add(s.replace('\n', ' ')));
        return Files.write(file, lines, StandardCharsets.UTF_8);
    }
}
