"""Characters written differently in Simplified and Traditional Chinese, to tell the two apart by counting."""

from __future__ import annotations

# Pairs of (simplified, traditional) among the most frequent characters that differ. Characters that both
# scripts use with another meaning (后 "queen", 里 "mile", 干, 只, 台, 面, 发/髮...) are left out, so a count of
# either side is evidence of that script only.
_PAIRS = (
    "这這 个個 们們 来來 说說 时時 为為 国國 会會 学學 还還 对對 开開 关關 见見 与與 无無 样樣 点點 经經 门門 问問"
    " 从從 东東 车車 长長 电電 话話 应應 实實 体體 当當 现現 发發 过過 动動 头頭 气氣 机機 么麼 没沒 书書 语語"
    " 认認 识識 让讓 请請 谁誰 读讀 写寫 听聽 买買 卖賣 钱錢 银銀 铁鐵 钟鐘 间間 闻聞 风風 飞飛 马馬 鸟鳥 鱼魚"
    " 龙龍 万萬 业業 丽麗 乐樂 习習 乡鄉 亲親 产產 亿億 众眾 优優 伤傷 传傳 价價 华華 协協 单單 卫衛 历歷 压壓"
    " 县縣 双雙 变變 号號 叶葉 吗嗎 员員 响響 团團 园園 围圍 图圖 场場 坏壞 块塊 声聲 处處 备備 复復 夹夾 奋奮"
    " 妇婦 妈媽 孙孫 宁寧 宝寶 审審 宽寬 导導 层層 岁歲 师師 带帶 帮幫 广廣 庆慶 库庫 废廢 张張 弹彈 强強 归歸"
    " 录錄 忆憶 怀懷 态態 总總 恋戀 惊驚 战戰 执執 扩擴 扫掃 护護 报報 择擇 担擔 拥擁 换換 据據 数數 断斷 显顯"
    " 晓曉 术術 杂雜 权權 条條 极極 构構 标標 树樹 桥橋 检檢 欢歡 残殘 毕畢 汉漢 汤湯 沟溝 济濟 测測 热熱 灯燈"
    " 爱愛 争爭 状狀 独獨 猪豬 环環 画畫 畅暢 疗療 监監 盖蓋 盘盤 矿礦 码碼 础礎 确確 种種 称稱 积積 笔筆 简簡"
    " 类類 纪紀 约約 级級 线線 练練 组組 细細 终終 结結 给給 统統 继繼 续續 维維 综綜 网網 罗羅 职職 联聯 胜勝"
    " 脑腦 脚腳 节節 艺藝 药藥 获獲 补補 装裝 观觀 规規 视視 览覽 计計 讨討 训訓 议議 记記 讲講 许許 论論 设設"
    " 证證 评評 诉訴 词詞 译譯 试試 该該 详詳 误誤 课課 谈談 调調 谢謝 贝貝 负負 财財 责責 质質 购購 贵貴 费費"
    " 资資 赛賽 赶趕 跃躍 轮輪 软軟 转轉 轻輕 较較 辑輯 输輸 边邊 达達 运運 进進 远遠 连連 选選 递遞 适適 遗遺"
    " 邮郵 链鏈 错錯 锅鍋 闭閉 阅閱 队隊 阳陽 阶階 际際 陆陸 随隨 险險 难難 雾霧 静靜 顺順 须須 顾顧 领領 频頻"
    " 题題 颜顏 饭飯 馆館 驾駕 验驗 鲜鮮 黄黃 写寫 页頁 顶頂 项項 预預 问問 间間 们們 这這 钢鋼 错錯 给給 绍紹"
    " 网網 务務 区區 医醫 厅廳 历歷 双雙 发發 车車 轨軌 军軍 农農 写寫 决決 况況 冻凍 净淨 凉涼 减減 几幾 凭憑"
    " 击擊 刘劉 则則 刚剛 创創 别別 剧劇 劝勸 办辦 务務 动動 势勢 勋勳 区區 医醫 华華 协協 卖賣 卢盧 卧臥 卫衛"
    " 却卻 厂廠 厅廳 县縣 叙敘 吓嚇 听聽 启啟 吴吳 呜嗚 员員 咏詠 哑啞 唤喚 啰囉 喷噴 严嚴 丧喪 个個 临臨 为為"
    " 丽麗 举舉 义義 乌烏 乔喬 习習 书書 买買 乱亂 争爭 亏虧 云雲 亚亞 亩畝 亲親 亵褻 亿億 仅僅 从從 仑侖 仓倉"
)

SIMPLIFIED_ONLY = frozenset(pair[0] for pair in _PAIRS.split())
TRADITIONAL_ONLY = frozenset(pair[1] for pair in _PAIRS.split())


def script_counts(han_text: str) -> tuple[int, int]:
    """Return how many distinct characters of the text are Simplified-only and how many Traditional-only."""
    distinct = set(han_text)
    return len(distinct & SIMPLIFIED_ONLY), len(distinct & TRADITIONAL_ONLY)
