package offline

import "strings"

// knownCities is a small gazetteer of the world's larger cities: a bare
// part of a new contact's details that is one of them ("…, Lyon") is the
// city, not the company. A place not listed keeps the older convention
// (a bare part after the name is the company) unless it is said with "in".
var knownCities = wordListSet(`
london|manchester|birmingham|leeds|liverpool|glasgow|edinburgh|bristol|sheffield|newcastle|nottingham|cardiff|belfast|dublin|cork|leicester|oxford|cambridge|brighton|southampton|aberdeen|york|bath|reading|coventry|
paris|lyon|marseille|toulouse|nice|nantes|bordeaux|lille|strasbourg|montpellier|rennes|
berlin|hamburg|munich|münchen|cologne|köln|frankfurt|stuttgart|düsseldorf|dortmund|essen|leipzig|dresden|hanover|hannover|nuremberg|bremen|bonn|
madrid|barcelona|valencia|seville|sevilla|bilbao|malaga|málaga|zaragoza|lisbon|lisboa|porto|
rome|roma|milan|milano|naples|napoli|turin|torino|florence|firenze|bologna|venice|venezia|genoa|palermo|
amsterdam|rotterdam|the hague|utrecht|eindhoven|brussels|bruxelles|antwerp|ghent|luxembourg|
zurich|zürich|geneva|genève|basel|bern|lausanne|vienna|wien|salzburg|graz|prague|praha|brno|bratislava|budapest|warsaw|warszawa|krakow|kraków|wroclaw|wrocław|gdansk|gdańsk|poznan|poznań|
copenhagen|aarhus|stockholm|gothenburg|göteborg|malmö|malmo|oslo|bergen|helsinki|tampere|reykjavik|tallinn|riga|vilnius|
athens|thessaloniki|istanbul|ankara|izmir|bucharest|cluj-napoca|sofia|belgrade|zagreb|ljubljana|sarajevo|kyiv|kiev|lviv|odesa|minsk|moscow|saint petersburg|st. petersburg|
new york|new york city|los angeles|chicago|houston|phoenix|philadelphia|san antonio|san diego|dallas|austin|san jose|san francisco|seattle|denver|boston|washington|atlanta|miami|detroit|minneapolis|portland|las vegas|nashville|baltimore|pittsburgh|cleveland|orlando|tampa|brooklyn|
toronto|montreal|montréal|vancouver|calgary|ottawa|edmonton|winnipeg|quebec city|
mexico city|guadalajara|monterrey|bogotá|bogota|medellín|medellin|lima|santiago|buenos aires|córdoba|montevideo|são paulo|sao paulo|rio de janeiro|brasília|brasilia|belo horizonte|caracas|quito|
tokyo|osaka|kyoto|yokohama|nagoya|sapporo|fukuoka|kobe|seoul|busan|beijing|shanghai|shenzhen|guangzhou|hong kong|taipei|singapore|kuala lumpur|bangkok|jakarta|manila|hanoi|ho chi minh city|
mumbai|delhi|new delhi|bangalore|bengaluru|hyderabad|chennai|kolkata|pune|ahmedabad|karachi|lahore|dhaka|colombo|kathmandu|
dubai|abu dhabi|doha|riyadh|jeddah|tel aviv|jerusalem|amman|beirut|cairo|alexandria|casablanca|rabat|marrakesh|tunis|algiers|
lagos|abuja|accra|nairobi|addis ababa|kampala|dar es salaam|johannesburg|cape town|durban|pretoria|
sydney|melbourne|brisbane|perth|adelaide|canberra|auckland|wellington|christchurch`)

func wordListSet(list string) map[string]bool {
	set := map[string]bool{}
	for _, c := range strings.Split(list, "|") {
		if c = strings.TrimSpace(c); c != "" {
			set[c] = true
		}
	}
	return set
}

// isKnownCity reports whether s names a city of the gazetteer.
func isKnownCity(s string) bool {
	return knownCities[strings.ToLower(strings.Join(strings.Fields(s), " "))]
}
