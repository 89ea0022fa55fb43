"""Function words that carry no topic, per language; folded (see ``bot.folding``)."""

from __future__ import annotations

# Written for this project: the commonest function words of news prose in each language.
_EN = """
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have having
he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
nor not now of off on once only or other our ours ourselves out over own same she should so some such than
that the their theirs them themselves then there these they this those through to too under until up very
was we were what when where which while who whom why will with would you your yours yourself yourselves
said says say told according new one two three year years mr mrs ms also would could may might must
"""
_RU = """
и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее её мне было вот
от меня еще ещё нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был него до вас нибудь опять
уж вам ведь там потом себя ничего ей может они тут где есть надо ней для мы тебя их чем была сам чтоб без
будто чего раз тоже себе под будет ж тогда кто этот того потому этого какой совсем ним здесь этом один почти
мой тем чтобы нее неё сейчас были куда зачем всех никогда можно при наконец два об другой хоть после
над больше
тот через эти нас про всего них какая много разве три эту моя впрочем хорошо свою этой перед иногда лучше чуть
том нельзя такой им более всегда конечно всю между также это которые который которая которое которых году
года сообщает сообщил сообщила заявил заявила отметил отметила словам
"""
_AZ = """
və ilə da də bu o bir ki üçün olan olaraq olub olunub edib edir edilib etdi etmək isə həm amma lakin ancaq
çox daha ən artıq hər heç nə necə niyə harada kim hansı onun onlar onların bunu buna bunun belə elə həmçinin
görə sonra əvvəl qədər kimi tərəfindən barədə haqqında arasında üzrə il ilin ildə məlumat bildirib deyib
qeyd vurğulayıb bildirilib olunur olur var yox mən sən biz siz öz özü
"""
_TR = """
ve ile de da bu şu o bir ki için olan olarak oldu olduğu olduğunu etti eden ediyor edildi ise hem ama fakat
ancak çok daha en her hiç ne nasıl neden nerede kim hangi onun onlar onların bunu buna bunun böyle şöyle
ayrıca göre sonra önce kadar gibi tarafından hakkında arasında üzere yıl yılın yılında dedi açıkladı
belirtti söyledi ifade var yok ben sen biz siz kendi kendisi mi mı mu mü diye
"""

STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(_EN.split()),
    "ru": frozenset(_RU.split()),
    "az": frozenset(_AZ.split()),
    "tr": frozenset(_TR.split()),
}
# Used when the language is unknown or not one of ours: the union still removes most glue words.
ANY = frozenset().union(*STOPWORDS.values())


def stopwords_for(lang: str | None) -> frozenset[str]:
    """Stop words for a language, or the union of all when it is unknown."""
    return STOPWORDS.get(lang or "", ANY)
